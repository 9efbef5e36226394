"""llama-cpp-python's own server, with llama.cpp's repack choice set as for the others.

Its settings have no switch for ``use_extra_bufts``; this sets the field in the model
parameters its ``Llama`` asks llama.cpp for, then runs its server unchanged.

usage: python bench/lcp_server.py --repack True|False [llama_cpp.server options...]
"""

from __future__ import annotations

import runpy
import sys

import llama_cpp.llama_cpp as bindings


def main() -> None:
    args = sys.argv[1:]
    if args[:1] != ["--repack"] or len(args) < 2:
        sys.exit(__doc__)
    repack = args[1] == "True"
    defaults = bindings.llama_model_default_params

    def with_repack() -> bindings.llama_model_params:
        params = defaults()
        params.use_extra_bufts = repack
        return params

    bindings.llama_model_default_params = with_repack  # what its Llama calls
    sys.argv = ["llama_cpp.server", *args[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
