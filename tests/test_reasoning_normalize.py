"""The normaliser: every dialect, conflicts, invalid values, defaults."""

from __future__ import annotations

from typing import Any

import pytest

from freehold.chat.reasoning import DEFAULT_BUDGETS, ReasoningChoice, normalize
from freehold.errors import FreeholdError

ON = ReasoningChoice(enabled=True)
OFF = ReasoningChoice(enabled=False, output="hidden")

DIALECTS: list[tuple[dict[str, Any], ReasoningChoice]] = [
    ({}, ReasoningChoice()),
    ({"reasoning_effort": "none"}, OFF),
    ({"reasoning_effort": "minimal"}, ReasoningChoice(True, 256, effort="minimal")),
    ({"reasoning_effort": "low"}, ReasoningChoice(True, 1024, effort="low")),
    ({"reasoning_effort": "medium"}, ReasoningChoice(True, 4096, effort="medium")),
    ({"reasoning_effort": "high"}, ReasoningChoice(True, None, effort="high")),
    ({"reasoning": {"effort": "low"}}, ReasoningChoice(True, 1024, effort="low")),
    ({"reasoning": {"effort": "none"}}, OFF),
    ({"reasoning": {"max_tokens": 300}}, ReasoningChoice(True, 300)),
    ({"reasoning": {"enabled": True}}, ON),
    ({"reasoning": {"enabled": False}}, OFF),
    ({"reasoning": {}}, ReasoningChoice()),
    ({"reasoning": {"exclude": True}}, ReasoningChoice(output="hidden")),
    ({"reasoning": {"effort": "high", "summary": "auto"}}, ReasoningChoice(True, effort="high")),
    ({"think": True}, ON),
    ({"think": False}, OFF),
    ({"think": "low"}, ReasoningChoice(True, 1024, effort="low")),
    ({"chat_template_kwargs": {"enable_thinking": True}}, ON),
    ({"chat_template_kwargs": {"enable_thinking": False}}, OFF),
    ({"chat_template_kwargs": {"other": 1}}, ReasoningChoice()),
    ({"max_reasoning_tokens": 50}, ReasoningChoice(True, 50)),
    ({"thinking_token_budget": 50}, ReasoningChoice(True, 50)),
    ({"max_reasoning_tokens": 0}, OFF),
    (
        {"reasoning_effort": "low", "max_reasoning_tokens": 99},
        ReasoningChoice(True, 99, effort="low"),
    ),
    ({"max_reasoning_tokens": 7, "thinking_token_budget": 7}, ReasoningChoice(True, 7)),
    ({"reasoning_effort": "low", "think": "low"}, ReasoningChoice(True, 1024, effort="low")),
    ({"think": True, "reasoning": {"enabled": True}}, ON),
    ({"reasoning_format": "reasoning"}, ReasoningChoice(output="reasoning")),
    ({"reasoning_format": "both"}, ReasoningChoice(output="both")),
    ({"reasoning_format": "inline"}, ReasoningChoice(output="inline")),
    ({"reasoning_format": "hidden"}, ReasoningChoice(output="hidden")),
    ({"reasoning_format": "deepseek"}, ReasoningChoice(output="reasoning_content")),
    ({"reasoning_format": "none"}, ReasoningChoice(output="inline")),
    ({"reasoning_format": "auto"}, ReasoningChoice()),
    ({"think": False, "reasoning_format": "inline"}, OFF),
    (
        {"reasoning_format": "hidden", "reasoning": {"exclude": True}},
        ReasoningChoice(output="hidden"),
    ),
    ({"reasoning": {"exclude": False}, "think": True}, ON),
    ({"reasoning_effort": None, "think": None, "reasoning": None}, ReasoningChoice()),
]


@pytest.mark.parametrize(("body", "expected"), DIALECTS, ids=[repr(b) for b, _ in DIALECTS])
def test_dialects(body: dict[str, Any], expected: ReasoningChoice) -> None:
    assert normalize(body) == expected


CONFLICTS: list[tuple[dict[str, Any], str, str]] = [
    ({"reasoning_effort": "none", "think": True}, "think", "reasoning_effort"),
    (
        {"reasoning_effort": "low", "reasoning": {"effort": "high"}},
        "reasoning.effort",
        "reasoning_effort",
    ),
    (
        {"max_reasoning_tokens": 10, "reasoning": {"max_tokens": 20}},
        "reasoning.max_tokens",
        "max_reasoning_tokens",
    ),
    (
        {"max_reasoning_tokens": 10, "thinking_token_budget": 20},
        "thinking_token_budget",
        "max_reasoning_tokens",
    ),
    (
        {"chat_template_kwargs": {"enable_thinking": False}, "think": True},
        "chat_template_kwargs.enable_thinking",
        "think",
    ),
    ({"reasoning": {"enabled": False, "effort": "low"}}, "reasoning.effort", "reasoning.enabled"),
    (
        {"reasoning_effort": "high", "max_reasoning_tokens": 0},
        "max_reasoning_tokens",
        "reasoning_effort",
    ),
    ({"think": False, "max_reasoning_tokens": 100}, "max_reasoning_tokens", "think"),
    (
        {"reasoning_format": "both", "reasoning": {"exclude": True}},
        "reasoning.exclude",
        "reasoning_format",
    ),
]


@pytest.mark.parametrize(("body", "param", "other"), CONFLICTS, ids=[repr(c[0]) for c in CONFLICTS])
def test_conflicts_are_400_naming_both(body: dict[str, Any], param: str, other: str) -> None:
    with pytest.raises(FreeholdError) as err:
        normalize(body)
    assert err.value.status == 400
    assert err.value.param in (param, other)
    assert param in err.value.message and other in err.value.message


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"reasoning_effort": 3}, "reasoning_effort"),
    ({"reasoning": "high"}, "reasoning"),
    ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"reasoning": {"max_tokens": -1}}, "reasoning.max_tokens"),
    ({"reasoning": {"max_tokens": True}}, "reasoning.max_tokens"),
    ({"reasoning": {"enabled": "yes"}}, "reasoning.enabled"),
    ({"reasoning": {"exclude": 1}}, "reasoning.exclude"),
    ({"reasoning": {"summary": "detailed"}}, "reasoning.summary"),
    ({"reasoning": {"colour": "blue"}}, "reasoning.colour"),
    ({"think": "very"}, "think"),
    ({"think": 1}, "think"),
    ({"chat_template_kwargs": ["enable_thinking"]}, "chat_template_kwargs"),
    (
        {"chat_template_kwargs": {"enable_thinking": "false"}},
        "chat_template_kwargs.enable_thinking",
    ),
    ({"max_reasoning_tokens": -5}, "max_reasoning_tokens"),
    ({"max_reasoning_tokens": 1.5}, "max_reasoning_tokens"),
    ({"thinking_token_budget": "10"}, "thinking_token_budget"),
    ({"reasoning_format": "deepseek-legacy"}, "reasoning_format"),
    ({"reasoning_format": 1}, "reasoning_format"),
]


@pytest.mark.parametrize(("body", "param"), INVALID, ids=[repr(c[0]) for c in INVALID])
def test_invalid_values_are_400_with_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(FreeholdError) as err:
        normalize(body)
    assert (err.value.status, err.value.param) == (400, param)
    assert param.split(".")[-1] in err.value.message


def test_defaults_apply_when_the_request_says_nothing() -> None:
    assert normalize({}, server_default="on") == ON
    assert normalize({}, server_default="off") == OFF
    assert normalize({}, server_default="on", model_default="off") == OFF
    assert normalize({}, server_default="off", model_default="auto") == ReasoningChoice()
    assert normalize({"reasoning_format": "both"}, server_default="off").enabled is False


def test_the_request_beats_the_defaults() -> None:
    assert normalize({"think": True}, server_default="off", model_default="off") == ON
    assert normalize({"reasoning_effort": "none"}, model_default="on") == OFF


def test_effort_budgets_and_output_default_are_parameters() -> None:
    budgets = {**DEFAULT_BUDGETS, "low": 64, "xhigh": None}
    assert normalize({"reasoning_effort": "low"}, effort_budgets=budgets).budget == 64
    assert normalize({"reasoning_effort": "xhigh"}, effort_budgets=budgets).effort == "xhigh"
    with pytest.raises(FreeholdError):
        normalize({"reasoning_effort": "xhigh"})
    shaped = normalize({"think": True}, output_default="both")
    assert shaped == ReasoningChoice(True, output="both")
    assert normalize({"reasoning_format": "auto"}, output_default="inline").output == "inline"
