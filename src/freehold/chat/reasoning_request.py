"""The one place where every reasoning dialect of a request becomes one internal value.

Dialects: ``reasoning_effort`` (OpenAI), ``reasoning: {effort, max_tokens, enabled,
exclude}`` (OpenRouter / Responses), ``think`` (Ollama: bool or level),
``chat_template_kwargs.enable_thinking`` (vLLM / llama-server), ``max_reasoning_tokens``
(alias ``thinking_token_budget``) and ``reasoning_format`` (the output shape). Fields that
disagree are a 400 naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from freehold.errors import FreeholdError

Switch = Literal["on", "off", "auto"]
Output = Literal["reasoning_content", "reasoning", "both", "inline", "hidden"]
OUTPUTS: tuple[str, ...] = get_args(Output)
EFFORTS = ("none", "minimal", "low", "medium", "high")
DEFAULT_BUDGETS: Mapping[str, int | None] = {
    "minimal": 256,
    "low": 1024,
    "medium": 4096,
    "high": None,
}
# llama-server's --reasoning-format names, accepted as aliases ("auto": the server default)
_OUTPUT_ALIASES = {"deepseek": "reasoning_content", "none": "inline"}
_REASONING_KEYS = ("effort", "max_tokens", "enabled", "exclude", "summary")


@dataclass(frozen=True)
class ReasoningChoice:
    """What a request asks of thinking.

    ``enabled``: True on, False off, None the model's own default. ``budget``: thinking
    tokens allowed (None: unlimited). ``output``: where thinking goes in the response.
    ``effort``: the effort level asked for, if any (passed to templates that read one).
    """

    enabled: bool | None = None
    budget: int | None = None
    output: Output = "reasoning_content"
    effort: str | None = None


@dataclass(frozen=True)
class _Said:
    """One field's statement: its name and value as sent (for errors) and what it says."""

    param: str
    value: Any
    sent: Any = None

    def __str__(self) -> str:
        return f"{self.param}={self.value if self.sent is None else self.sent!r}"


def _bad(message: str, param: str) -> FreeholdError:
    return FreeholdError(message, status=400, param=param)


def _agree(said: list[_Said], what: str) -> Any:
    """The common value of the statements; 400 naming two that differ."""
    for other in said[1:]:
        if other.value != said[0].value:
            raise _bad(f"{said[0]} and {other} disagree {what}", other.param)
    return said[0].value if said else None


def _effort(value: Any, param: str, levels: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in levels:
        raise _bad(f"{param} must be one of {', '.join(levels)}; got {value!r}", param)
    return value


def _count(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"{param} must be a non-negative integer; got {value!r}", param)
    return value


def _flag(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"{param} must be true or false; got {value!r}", param)
    return value


def _mapping(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(f"{param} must be an object; got {value!r}", param)
    return value


@dataclass
class _Statements:
    """Every statement a request makes, by kind, before they are reconciled."""

    efforts: list[_Said]
    switches: list[_Said]
    budgets: list[_Said]
    outputs: list[_Said]


def _from_reasoning(obj: Mapping[str, Any], st: _Statements, levels: tuple[str, ...]) -> None:
    for key in obj:
        if key not in _REASONING_KEYS or (key == "summary" and obj[key] not in (None, "auto")):
            raise _bad(f"reasoning.{key} is not supported", f"reasoning.{key}")
    if obj.get("effort") is not None:
        st.efforts.append(
            _Said("reasoning.effort", _effort(obj["effort"], "reasoning.effort", levels))
        )
    if obj.get("max_tokens") is not None:
        st.budgets.append(
            _Said("reasoning.max_tokens", _count(obj["max_tokens"], "reasoning.max_tokens"))
        )
    if obj.get("enabled") is not None:
        st.switches.append(_Said("reasoning.enabled", _flag(obj["enabled"], "reasoning.enabled")))
    if obj.get("exclude") is not None and _flag(obj["exclude"], "reasoning.exclude"):
        st.outputs.append(_Said("reasoning.exclude", "hidden", True))


def _from_think(value: Any, st: _Statements, levels: tuple[str, ...]) -> None:
    if isinstance(value, bool):
        st.switches.append(_Said("think", value))
    elif isinstance(value, str) and value in levels:
        st.efforts.append(_Said("think", value))
    else:
        raise _bad(
            f"think must be true, false or one of {', '.join(levels)}; got {value!r}", "think"
        )


def _output(value: Any, default: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"reasoning_format must be a string; got {value!r}", "reasoning_format")
    if value == "auto":
        return default
    value = _OUTPUT_ALIASES.get(value, value)
    if value not in OUTPUTS:
        raise _bad(
            f"reasoning_format must be one of {', '.join(OUTPUTS)} (or deepseek, none, auto); "
            f"got {value!r}",
            "reasoning_format",
        )
    return value


def _gather(body: Mapping[str, Any], levels: tuple[str, ...], output_default: str) -> _Statements:
    st = _Statements([], [], [], [])
    if body.get("reasoning_effort") is not None:
        effort = _effort(body["reasoning_effort"], "reasoning_effort", levels)
        st.efforts.append(_Said("reasoning_effort", effort))
    if body.get("reasoning") is not None:
        _from_reasoning(_mapping(body["reasoning"], "reasoning"), st, levels)
    if body.get("think") is not None:
        _from_think(body["think"], st, levels)
    kwargs = body.get("chat_template_kwargs")
    if (
        kwargs is not None
        and _mapping(kwargs, "chat_template_kwargs").get("enable_thinking") is not None
    ):
        param = "chat_template_kwargs.enable_thinking"
        st.switches.append(_Said(param, _flag(kwargs["enable_thinking"], param)))
    for param in ("max_reasoning_tokens", "thinking_token_budget"):
        if body.get(param) is not None:
            st.budgets.append(_Said(param, _count(body[param], param)))
    if body.get("reasoning_format") is not None:
        st.outputs.append(
            _Said("reasoning_format", _output(body["reasoning_format"], output_default))
        )
    return st


def _switch(default: Switch) -> bool | None:
    return {"on": True, "off": False, "auto": None}[default]


def normalize(
    body: Mapping[str, Any],
    *,
    server_default: Switch = "auto",
    model_default: Switch | None = None,
    effort_budgets: Mapping[str, int | None] = DEFAULT_BUDGETS,
    output_default: Output = "reasoning_content",
) -> ReasoningChoice:
    """The request's reasoning choice. Raises FreeholdError (400, with ``param``) on an
    invalid value or on two fields that disagree.

    An effort level turns thinking on (``none``: off) with that level's budget; an explicit
    token budget overrides the level's, and a budget of 0 turns thinking off. A request
    that says nothing gets the model's default, else the server's.
    """
    levels = tuple(dict.fromkeys((*EFFORTS, *effort_budgets)))
    st = _gather(body, levels, output_default)
    effort = _agree(st.efforts, "on the reasoning effort")
    budget = _agree(st.budgets, "on the reasoning token budget")
    said = list(st.switches)
    if effort is not None:
        said.append(_Said(st.efforts[0].param, effort != "none", effort))
    if budget is not None:
        said.append(_Said(st.budgets[0].param, budget > 0, budget))
    enabled = (
        _agree(said, "on whether to think") if said else _switch(model_default or server_default)
    )
    output = _agree(st.outputs, "on the reasoning output shape") or output_default
    if enabled is False:
        return ReasoningChoice(enabled=False, output="hidden")
    if budget is None and effort is not None:
        budget = effort_budgets.get(effort)
    return ReasoningChoice(enabled=enabled, budget=budget, output=output, effort=effort)
