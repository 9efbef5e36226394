"""OpenAI request bodies as pydantic models. Fields freehold does not implement are
declared with their default so that a non-default value can be refused by name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    """``{"type": "image_url", "image_url": {"url": ...}}`` (a bare URL string too)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["image_url"]
    image_url: ImageURL | str

    @property
    def url(self) -> str:
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class LoraChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    scale: float | None = Field(None, allow_inf_nan=False)


class StreamOptions(BaseModel):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class Sampling(BaseModel):
    """Parameters common to chat and text completions."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0, le=2**31 - 1)
    min_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-1, le=2**64 - 1)  # -1: random
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    repeat_penalty: float | None = Field(None, ge=0)
    logit_bias: dict[str, float] | None = None
    ignore_eos: bool = False
    t_max_predict_ms: int | None = Field(None, ge=1)  # llama-server's per-request time limit
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Ollama's: seconds (or "5m") the model stays loaded after this request; 0 unloads it
    keep_alive: float | str | None = None
    # LoRA adapters of the model for this request (see --lora), with their scales
    lora: list[LoraChoice] | None = None
    n: int | None = Field(1, ge=1, le=128)
    logprobs: bool | int | None = None
    top_logprobs: int | None = None
    # llama.cpp-style extension: a GBNF grammar the output must match
    grammar: str | None = None


class ChatCompletionRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    # reasoning dialects (normalised in chat/reasoning.py)
    reasoning_effort: str | None = None
    reasoning: dict[str, Any] | None = None
    think: bool | str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    max_reasoning_tokens: int | None = Field(None, ge=0)
    thinking_token_budget: int | None = Field(None, ge=0)
    reasoning_format: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    # not implemented
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    verbosity: str | None = None


class CompletionRequest(Sampling):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body: what every 4xx and 5xx of the OpenAI routes carries."""

    error: ErrorDetail
