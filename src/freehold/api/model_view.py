"""What the Service knows of one loaded model: its facts, settings and template, and the
reasoning and tool families read from that template."""

from __future__ import annotations

from dataclasses import dataclass

from freehold.chat import reasoning
from freehold.chat.tools.formats import ToolFormat
from freehold.config import Settings
from freehold.engine.pooling import refuse_generation
from freehold.engine.registry import Entry
from freehold.engine.types import ModelInfo


@dataclass(frozen=True)
class ModelView:
    """What the Service knows of one model once loaded: its facts and template."""

    entry: Entry
    info: ModelInfo
    settings: Settings
    template: str
    reasoning_format: reasoning.ReasoningFormat | None
    tool_format: ToolFormat

    @property
    def id(self) -> str:
        return self.entry.id

    def capabilities(self) -> dict[str, object]:
        return {
            **reasoning.capabilities(self.reasoning_format, self.settings.reasoning),
            **self.pooling(),
            "tools": True,
            "tool_format": self.tool_format.name,
            "structured_output": ["json_object", "json_schema", "grammar"],
            "logprobs": True,
        }

    def pooling(self) -> dict[str, object]:
        """What a loaded model offers besides generation (embeddings, rerank, images)."""
        engine = self.entry.engine
        if engine is None or not engine.ready:
            return {}
        return {**engine.pooler.facts.capabilities(), "vision": engine.vision}

    def vision(self) -> bool:
        engine = self.entry.engine
        return engine is not None and engine.vision

    def require_generative(self) -> None:
        """A GGUF that declares its pooling is an embedding model or a reranker: it has
        no use for generation (and a BERT has no output head), so that is a 400."""
        if self.info.pooling is not None:
            raise refuse_generation(self.id, self.info.pooling)
