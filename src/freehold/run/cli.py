"""``freehold run [MODEL]``: flags in, a chat session out; errors as one line on stderr."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from freehold.errors import FreeholdError
from freehold.run.client import ChatClient, ChatError
from freehold.run.session import Session
from freehold.run.terminal import interactive, piped

# Settings a local engine takes from `freehold run`'s own flags (the rest: env, --config).
LOCAL_SETTINGS = ("ctx_size", "threads", "models_dir", "offline", "reasoning")
SAMPLING = ("max_tokens", "temperature", "seed")


def register(subparsers: Any) -> None:
    """Add ``run`` to the ``freehold`` command."""
    run = subparsers.add_parser(
        "run",
        help="chat with a model in the terminal (local engine, or a server with --url)",
        description="Chat with a model: on the local engine, or on a running server (--url). "
        "Piped (echo question | freehold run) it prints only the answer.",
    )
    run.add_argument("model", nargs="?", metavar="MODEL", help="model file, reference or id")
    run.add_argument("--url", help="a running server's base URL, e.g. http://127.0.0.1:8000")
    run.add_argument(
        "--api-key",
        dest="client_key",
        metavar="KEY",
        default=os.environ.get("FREEHOLD_API_KEY"),
        help="API key for --url (default: $FREEHOLD_API_KEY)",
    )
    _chat_flags(run)
    _local_flags(run.add_argument_group("local engine (without --url)"))
    run.set_defaults(func=run_command)


def _chat_flags(run: Any) -> None:
    run.add_argument("--think", choices=("on", "off"), help="start with thinking on or off")
    run.add_argument("--system", help="system prompt")
    run.add_argument(
        "-n",
        "--max-tokens",
        dest="max_tokens",
        type=int,
        metavar="N",
        help="longest reply in tokens (as /set max_tokens)",
    )
    run.add_argument(
        "--temperature", type=float, metavar="T", help="sampling temperature (as /set temperature)"
    )
    run.add_argument("--seed", type=int, metavar="N", help="sampling seed (as /set seed)")


def _local_flags(local: Any) -> None:
    s = argparse.SUPPRESS  # absent flags fall back to env / config / defaults (Settings)
    local.add_argument(
        "-c",
        "--ctx-size",
        dest="ctx_size",
        type=int,
        default=s,
        metavar="N",
        help="context size in tokens",
    )
    local.add_argument(
        "-t",
        "--threads",
        dest="threads",
        type=int,
        default=s,
        metavar="N",
        help="threads for generation (0 = all cores)",
    )
    local.add_argument(
        "--models-dir",
        dest="models_dir",
        type=Path,
        default=s,
        metavar="DIR",
        help="local model store",
    )
    local.add_argument("--offline", action="store_true", default=s, help="never touch the network")
    local.add_argument(
        "--reasoning",
        choices=("on", "off", "auto"),
        default=s,
        help="thinking when the chat does not say (/think decides per session)",
    )
    local.add_argument("--config", type=Path, help="YAML settings file (see configs/)")
    # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    try:
        with ExitStack() as stack:
            client = _client(args, stack)
            session = Session(client, think=_switch(args.think), system=args.system)
            session.options = {
                k: getattr(args, k) for k in SAMPLING if getattr(args, k) is not None
            }
            session.model = args.model if args.url else None
            if not sys.stdin.isatty():
                return piped(session, sys.stdin.read())
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
            _greet(session)
            return interactive(session)
    except (ChatError, FreeholdError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _client(args: argparse.Namespace, stack: ExitStack) -> ChatClient:
    """A client of ``--url``, or of a local engine started for this session."""
    if args.url:
        client = ChatClient(args.url, args.client_key)
    else:
        from freehold.config import load_settings
        from freehold.run.local import BASE_URL, local_server, quiet_logs

        quiet_logs()
        given = {k: v for k, v in vars(args).items() if k in LOCAL_SETTINGS}
        local = {"model": args.model, "api_key": [], "api_key_file": None, "webui": False}
        settings = load_settings({**given, **local, "log_level": "warning"}, args.config)
        client = ChatClient(BASE_URL, transport=stack.enter_context(local_server(settings)))
    stack.callback(client.close)
    return client


def _switch(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def _greet(session: Session) -> None:
    models = session.client.models()
    name = session.model or (models[0]["id"] if models else "the model")
    print(f"Chatting with {name}. Type /help for help, /bye or Ctrl-D to leave.")
