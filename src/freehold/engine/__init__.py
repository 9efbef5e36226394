"""Engines turn a GenerationRequest into a stream of Chunks; api/ sees only the Engine protocol."""

from freehold.engine.types import (
    Chunk,
    Engine,
    GenerationRequest,
    ModelInfo,
    ReasoningPlan,
    SamplingParams,
    Usage,
)

__all__ = [
    "Chunk",
    "Engine",
    "GenerationRequest",
    "ModelInfo",
    "ReasoningPlan",
    "SamplingParams",
    "Usage",
]
