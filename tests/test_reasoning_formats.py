"""Family detection from chat templates, and the prompt-side decisions."""

from __future__ import annotations

import pytest
from thinking_gguf import THINKING_TEMPLATE

from freehold.chat.reasoning import (
    ReasoningChoice,
    capabilities,
    detect_reasoning,
    harmony,
    normalize,
    plan_prompt,
    prefill_closed,
    starts_inside,
    template_kwargs,
    think_tags,
)
from freehold.chat.template import CHATML, render

# Small templates with each family's telling constructs (not the vendors' full templates).
TURNS = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
QWEN3 = (
    TURNS + "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)
R1_DISTILL = (
    "{% for m in messages %}{% if m.role == 'user' %}<｜User｜>{{ m.content }}{% else %}"
    "<｜Assistant｜>{{ m.content.split('</think>')[-1] }}<｜end▁of▁sentence｜>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)
QWQ = TURNS + "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
OPT_IN = (
    TURNS + "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if thinking %}<think>\n{% endif %}{% endif %}"
)
DEFAULT_FALSE = (
    TURNS + "{% set think = enable_thinking | default(false) %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% if think %}<think>\n{% else %}<think></think>{% endif %}{% endif %}"
)
MAGISTRAL = "{% for m in messages %}[INST]{{ m.content }}[/INST]{% endfor %}{# [THINK] #}"
GPT_OSS = (
    "<|start|>system<|message|>Reasoning: {{ reasoning_effort | default('medium') }}<|end|>"
    "{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
    "{# <|channel|>analysis<|message|> #}"
)
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("template", "name", "switch", "default_on"),
    [
        (QWEN3, "think", "enable_thinking", True),
        (THINKING_TEMPLATE, "think", "enable_thinking", True),
        (R1_DISTILL, "think", None, True),
        (QWQ, "think", None, True),
        (OPT_IN, "think", "thinking", False),
        (DEFAULT_FALSE, "think", "enable_thinking", False),
        (MAGISTRAL, "mistral", None, True),
        (GPT_OSS, "harmony", "reasoning_effort", True),
    ],
    ids=[
        "qwen3",
        "test-template",
        "r1-distill",
        "qwq",
        "opt-in",
        "default-false",
        "magistral",
        "gpt-oss",
    ],
)
def test_detect_families(template: str, name: str, switch: str | None, default_on: bool) -> None:
    fmt = detect_reasoning(template)
    assert fmt is not None
    assert (fmt.name, fmt.switch, fmt.default_on) == (name, switch, default_on)
    assert fmt.switchable is (switch is not None)


def test_no_reasoning_ability() -> None:
    assert detect_reasoning(CHATML) is None
    assert detect_reasoning(None) is None
    assert detect_reasoning("") is None


def test_metadata_hint_for_gpt_oss() -> None:
    fmt = detect_reasoning(None, {"general.architecture": "gpt-oss"})
    assert fmt is not None and fmt.name == "harmony" and fmt.levels == ("low", "medium", "high")


def test_starts_inside() -> None:
    fmt = think_tags()
    assert starts_inside("<｜Assistant｜><think>\n", fmt)
    assert starts_inside("assistant\n<think>", fmt)
    assert not starts_inside("assistant\n", fmt)
    assert not starts_inside("assistant\n<think>\n\n</think>\n\n", fmt)
    assert not starts_inside("<think>\nx", fmt)


def test_prefill_closed() -> None:
    fmt = think_tags()
    assert prefill_closed("A: <think>\n", fmt) == "A: <think>\n\n</think>\n\n"
    assert prefill_closed("A: ", fmt) == "A: <think>\n\n</think>\n\n"
    assert prefill_closed("A: <think>\n\n</think>\n\n", fmt) == "A: <think>\n\n</think>\n\n"
    oss = harmony()
    closed = prefill_closed("<|start|>assistant", oss)
    assert closed == (
        "<|start|>assistant<|channel|>analysis<|message|>"
        "<|end|><|start|>assistant<|channel|>final<|message|>"
    )


def _plan(template: str, body: dict, **defaults: str):  # type: ignore[no-untyped-def]
    fmt = detect_reasoning(template)
    choice = normalize(body, **defaults)  # type: ignore[arg-type]
    prompt = render(template, MESSAGES, **template_kwargs(choice, fmt))
    return plan_prompt(prompt, choice, fmt)


def test_off_on_a_switchable_template_uses_the_switch() -> None:
    plan = _plan(QWEN3, {"think": False})
    assert plan.prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert plan.prompt.count("<think>") == 1
    assert (plan.thinking, plan.starts_inside, plan.output, plan.budget) == (
        False,
        False,
        "hidden",
        None,
    )


def test_off_on_a_template_that_always_opens_prefills_a_closed_block() -> None:
    plan = _plan(R1_DISTILL, {"reasoning_effort": "none"})
    assert plan.prompt.endswith("<｜Assistant｜><think>\n\n</think>\n\n")
    assert not plan.thinking and not plan.starts_inside


def test_on_opens_the_block_when_the_template_does_not() -> None:
    plan = _plan(QWEN3, {"reasoning_effort": "low"})
    assert plan.prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert (plan.thinking, plan.starts_inside, plan.budget) == (True, True, 1024)


def test_auto_keeps_the_rendered_prompt() -> None:
    plan = _plan(QWEN3, {})
    assert plan.prompt.endswith("<|im_start|>assistant\n")
    assert plan.thinking and not plan.starts_inside  # Qwen3 opens the block itself
    plan = _plan(THINKING_TEMPLATE, {})
    assert plan.prompt.endswith("assistant\n<think>\n") and plan.starts_inside
    assert not _plan(OPT_IN, {}).thinking


def test_test_template_switches() -> None:
    off = _plan(THINKING_TEMPLATE, {"chat_template_kwargs": {"enable_thinking": False}})
    assert off.prompt.endswith("assistant\n<think>\n\n</think>\n\n") and not off.thinking
    on = _plan(THINKING_TEMPLATE, {"max_reasoning_tokens": 8})
    assert on.prompt.endswith("assistant\n<think>\n") and on.prompt.count("<think>") == 1
    assert (on.starts_inside, on.budget) == (True, 8)


def test_harmony_levels_go_to_the_template() -> None:
    fmt = detect_reasoning(GPT_OSS)
    assert template_kwargs(ReasoningChoice(True, effort="low"), fmt) == {"reasoning_effort": "low"}
    assert template_kwargs(ReasoningChoice(True, effort="minimal"), fmt) == {
        "reasoning_effort": "low"
    }
    assert template_kwargs(ReasoningChoice(True), fmt) == {}
    assert template_kwargs(ReasoningChoice(False), fmt) == {}
    plan = _plan(GPT_OSS, {"reasoning": {"effort": "high"}})
    assert "Reasoning: high" in plan.prompt
    assert plan.prompt.endswith("<|start|>assistant<|channel|>analysis<|message|>")
    assert plan.starts_inside


def test_template_kwargs_for_switches() -> None:
    fmt = detect_reasoning(QWEN3)
    assert template_kwargs(ReasoningChoice(True), fmt) == {"enable_thinking": True}
    assert template_kwargs(ReasoningChoice(False), fmt) == {"enable_thinking": False}
    assert template_kwargs(ReasoningChoice(None), fmt) == {}
    assert template_kwargs(ReasoningChoice(True), detect_reasoning(QWQ)) == {}
    assert template_kwargs(ReasoningChoice(True), None) == {}


def test_a_model_without_reasoning_ignores_on() -> None:
    plan = _plan(CHATML, {"think": True})
    assert plan.prompt.endswith("<|im_start|>assistant\n") and "<think>" not in plan.prompt
    assert (plan.fmt, plan.thinking, plan.starts_inside) == (None, False, False)


def test_capabilities() -> None:
    assert capabilities(None) == {"reasoning": False}
    qwen = capabilities(detect_reasoning(QWEN3))
    assert qwen["reasoning"] and qwen["switchable"] and qwen["default"] == "on"
    assert qwen["markers"] == ["<think>", "</think>"]
    assert capabilities(detect_reasoning(OPT_IN))["default"] == "off"
    assert capabilities(detect_reasoning(QWEN3), "off")["default"] == "off"
    assert capabilities(detect_reasoning(GPT_OSS))["native_levels"] == ["low", "medium", "high"]
