"""``freehold pull | list | show | rm``: flags in, one call out, FreeholdErrors as messages."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freehold.errors import FreeholdError

Handler = Callable[[argparse.Namespace], int]


def _common(parser: argparse.ArgumentParser, *, hub: bool) -> None:
    s = argparse.SUPPRESS  # absent flags fall back to env / config / defaults (Settings)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--models-dir", dest="models_dir", type=Path, default=s, help="local model store"
    )
    parser.add_argument("--offline", action="store_true", default=s, help="never touch the network")
    if hub:
        parser.add_argument(
            "--token", dest="hf_token", default=s, help="Hugging Face token (default: $HF_TOKEN)"
        )


def register(subparsers: Any) -> None:
    """Add ``pull``, ``list``, ``show`` and ``rm`` to the ``freehold`` command."""
    pull = subparsers.add_parser("pull", help="download a GGUF model into the local store")
    pull.add_argument("ref", metavar="REF", help="owner/repo[:QUANT], alias, URL or .gguf path")
    pull.add_argument("--revision", help="branch, tag or commit (same as owner/repo@REV)")
    pull.add_argument(
        "-c", "--ctx-size", dest="ctx_size", type=int, default=argparse.SUPPRESS,
        help="context size the automatic quant choice must leave memory for",
    )  # fmt: skip
    pull.add_argument(
        "--no-mmproj", dest="mmproj", action="store_false",
        help="do not fetch the repo's vision projector (mmproj-*.gguf) beside the weights",
    )  # fmt: skip
    _common(pull, hub=True)
    pull.set_defaults(func=_guarded(_pull))

    listing = subparsers.add_parser("list", help="the models in the local store")
    listing.add_argument("--catalog", action="store_true", help="list the catalog's aliases")
    _common(listing, hub=False)
    listing.set_defaults(func=_guarded(_list))

    show = subparsers.add_parser("show", help="a stored model's GGUF metadata")
    show.add_argument("name", metavar="NAME", help="store name, alias, or a .gguf path")
    _common(show, hub=False)
    show.set_defaults(func=_guarded(_show))

    rm = subparsers.add_parser("rm", help="delete a model from the local store")
    rm.add_argument("name", metavar="NAME", help="store name or alias")
    _common(rm, hub=False)
    rm.set_defaults(func=_guarded(_rm))


def _guarded(handler: Handler) -> Handler:
    """User errors become one line on stderr and exit status 1, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except FreeholdError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"event": "error", **exc.to_dict()["error"]}), flush=True)
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted; run the same command again to resume", file=sys.stderr)
            return 130

    return run


def _settings(args: argparse.Namespace) -> Any:
    from freehold.config import load_settings

    keys = ("models_dir", "offline", "hf_token", "ctx_size")
    overrides = {k: getattr(args, k) for k in keys if hasattr(args, k)}
    return load_settings(overrides)


def _store(settings: Any) -> Any:
    from freehold.models.store import Store

    return Store(settings.models_dir)


def _pull(args: argparse.Namespace) -> int:
    from freehold.download.progress import make_reporter
    from freehold.download.pull import PullOptions, pull

    settings = _settings(args)
    options = PullOptions(
        token=settings.hf_token,
        offline=settings.offline,
        ctx_size=settings.ctx_size,
        revision=args.revision,
        mmproj=args.mmproj,
    )
    reporter = make_reporter(args.json)
    try:
        manifest = pull(args.ref, _store(settings), reporter, options)
    finally:
        reporter.close()
    store = _store(settings)
    path, mmproj = store.model_path(manifest), store.mmproj_path(manifest)
    if args.json:
        result = {"event": "result", "name": manifest.name, "path": str(path)}
        print(json.dumps(result | {"mmproj": str(mmproj) if mmproj else None}))
    else:
        print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from freehold.download import views

    settings = _settings(args)
    if args.catalog:
        print(views.catalog_table(args.json))
    else:
        print(views.store_table(_store(settings), args.json))
    return 0


def _show(args: argparse.Namespace) -> int:
    from freehold.download import views

    settings = _settings(args)
    print(views.show(_store(settings), args.name, args.json))
    return 0


def _rm(args: argparse.Namespace) -> int:
    from freehold.download.pull import find_stored

    settings = _settings(args)
    store = _store(settings)
    found = find_stored(store, args.name)
    manifest = store.remove(found.name if found else args.name)
    if args.json:
        print(json.dumps({"event": "removed", "name": manifest.name}))
    else:
        print(f"removed {manifest.name} ({store.entry_dir(manifest.name)})")
    return 0
