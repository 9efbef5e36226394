"""Command line: parses flags into Settings and hands over; no logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from freehold import __version__
from freehold.config import Settings
from freehold.errors import FreeholdError


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field that names flags; help text is the field's description."""
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        flags = extra.get("flags") if isinstance(extra, dict) else None
        if not isinstance(flags, list):
            continue
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "help": field.description,
        }
        annotation = field.annotation
        # --repack [on|off|auto] and --no-repack, spelled as llama-server spells them
        if isinstance(extra, dict) and extra.get("switch"):
            negative = "--no-" + str(flags[0]).removeprefix("--")
            parser.add_argument(
                negative, dest=name, action="store_const", const="off", default=argparse.SUPPRESS
            )
            kwargs.update(nargs="?", const="on", choices=get_args(annotation))
        elif annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(annotation) is list:
            kwargs["action"] = "append"
        else:
            choices = get_args(annotation) if "Literal" in str(annotation) else None
            if choices:
                kwargs["choices"] = choices
            else:
                kwargs["metavar"] = name.upper()
                if annotation in (int, float):
                    kwargs["type"] = annotation
        parser.add_argument(*[str(flag) for flag in flags], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="freehold", description="A local open-weights inference server."
    )
    parser.add_argument("--version", action="version", version=f"freehold {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a GGUF model over an OpenAI-compatible API")
    serve.add_argument("--config", type=Path, help="YAML settings file (see configs/)")
    _add_setting_flags(serve)
    serve.set_defaults(func=_serve)
    from freehold.download.cli import register
    from freehold.models.ps_cli import register as register_ps
    from freehold.run.cli import register as register_run

    register(commands)
    register_run(commands)
    register_ps(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    """User errors (a model that is not there, a bad setting) become one line on stderr
    and exit status 1, as `pull` does, never a traceback."""
    from pydantic import ValidationError

    from freehold.server import serve

    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    try:
        return serve(overrides, args.config)
    except FreeholdError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except (FileNotFoundError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
