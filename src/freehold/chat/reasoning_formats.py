"""Reasoning families, detected from a GGUF chat template, and the prompt-side decisions.

A family is a pair of literal markers around the thinking, plus what the engine injects to
close a block early and what an empty closed block looks like. Detection reads the
template text (and, as a hint, the GGUF metadata), never the file name.

gpt-oss "harmony" is mapped onto the same start/end mechanism: the thinking is the
``analysis`` channel, opened by ``<|channel|>analysis<|message|>``; its end marker is the
whole hand-over to the answer, ``<|end|><|start|>assistant<|channel|>final<|message|>``,
so that nothing of the channel header reaches ``content``. A ``final`` header met
outside a block (the model skipped the analysis) is dropped from content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasoningFormat:
    """How one model family writes its thinking.

    ``start``/``end``: the markers around a think block. ``open``: the text that opens a
    block in a prompt (``start`` and its usual newline). ``close``: the text the engine
    injects to end a block early (contains ``end``). ``drop``: header texts removed from content.
    ``switch``: the template variable that turns thinking on/off or sets its level
    (None: the template has none). ``levels``: effort levels the template itself
    understands (passed to it as ``switch``). ``default_on``: whether the model thinks
    when the request says nothing.
    """

    name: str
    start: str
    end: str
    open: str
    close: str
    drop: tuple[str, ...] = ()
    switch: str | None = None
    levels: tuple[str, ...] = ()
    default_on: bool = True

    @property
    def empty(self) -> str:
        """A whole empty, closed block: prefilled to turn thinking off."""
        return self.open + self.close

    @property
    def switchable(self) -> bool:
        """The template itself reads a thinking switch (``enable_thinking``, ...)."""
        return self.switch is not None


HARMONY_FINAL = "<|start|>assistant<|channel|>final<|message|>"


def think_tags(switch: str | None = None, default_on: bool = True) -> ReasoningFormat:
    """``<think>``/``</think>``: DeepSeek-R1 and its distills, Qwen3, QwQ, SmolLM3."""
    return ReasoningFormat(
        name="think",
        start="<think>",
        end="</think>",
        open="<think>\n",
        close="\n</think>\n\n",
        switch=switch,
        default_on=default_on,
    )


def mistral_think() -> ReasoningFormat:
    """``[THINK]``/``[/THINK]``: Magistral."""
    return ReasoningFormat(
        name="mistral",
        start="[THINK]",
        end="[/THINK]",
        open="[THINK]\n",
        close="\n[/THINK]\n\n",
    )


def harmony(levels: tuple[str, ...] = ("low", "medium", "high")) -> ReasoningFormat:
    """gpt-oss: the analysis channel is the thinking, the final channel the answer."""
    end = "<|end|>" + HARMONY_FINAL
    start = "<|channel|>analysis<|message|>"
    return ReasoningFormat(
        name="harmony",
        start=start,
        end=end,
        open=start,
        close=end,
        drop=("<|channel|>final<|message|>", "<|return|>"),
        switch="reasoning_effort",
        levels=levels,
    )


_SWITCHES = ("enable_thinking", "thinking", "reasoning_effort")


def _reads(template: str, name: str) -> bool:
    """The template uses variable ``name`` inside a ``{% ... %}`` statement."""
    return re.search(r"{%[^%]*\b" + re.escape(name) + r"\b", template) is not None


def _opt_in(template: str, switch: str | None) -> bool:
    """The switch defaults to off: an undefined variable means no thinking."""
    if switch is None or switch == "reasoning_effort":
        return False
    if re.search(re.escape(switch) + r"\s*\|\s*default\(\s*(false|False|0)\s*\)", template):
        return True
    if re.search(re.escape(switch) + r"\s+is\s+(false|sameas\s+false)", template):
        return False  # only an explicit false turns it off (Qwen3, SmolLM3)
    return re.search(r"{%-?\s*(el)?if\s+" + re.escape(switch) + r"\s*-?%}", template) is not None


def detect_reasoning(
    template: str | None, metadata: Mapping[str, Any] | None = None
) -> ReasoningFormat | None:
    """The reasoning family of a chat template, or None for a model that does not reason."""
    arch = str((metadata or {}).get("general.architecture", ""))
    text = template or ""
    if ("<|channel|>" in text and "analysis" in text) or arch == "gpt-oss":
        return harmony()
    if "[THINK]" in text:
        return mistral_think()
    if "<think>" in text or "</think>" in text:
        switch = next((s for s in _SWITCHES if _reads(text, s)), None)
        return think_tags(switch, default_on=not _opt_in(text, switch))
    return None


def starts_inside(prompt: str, fmt: ReasoningFormat) -> bool:
    """The rendered prompt already opened a think block: the output begins in thinking.

    True when the prompt's tail is ``start`` followed only by whitespace.
    """
    at = prompt.rfind(fmt.start)
    return at >= 0 and not prompt[at + len(fmt.start) :].strip()


def ends_closed(prompt: str, fmt: ReasoningFormat) -> bool:
    """The prompt ends with a closed think block (whitespace aside): the model answers."""
    return prompt.rstrip().endswith(fmt.end.rstrip())


def prefill_closed(prompt: str, fmt: ReasoningFormat) -> str:
    """The prompt with an empty, closed think block after it, so the model answers directly.

    A prompt that opened the block gets it closed; one that already closed it is kept.
    """
    if ends_closed(prompt, fmt):
        return prompt
    if starts_inside(prompt, fmt):
        opened = prompt.rstrip()
        return opened + fmt.empty[len(fmt.start) :]
    return prompt + fmt.empty
