"""OpenAI Responses request bodies as pydantic models (what ``/v1/responses`` accepts).

Items allow extra keys (an output item sent back keeps its ``id``); the top level
forbids unknown fields, and fields freehold does not implement are declared so that a
value other than "not asked for" is refused by name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class Item(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextContent(Item):
    type: Literal["input_text", "output_text", "text"]
    text: str


class OtherContent(Item):
    """Images, files, audio, refusals: parts freehold's text-only models cannot take."""

    type: Literal["input_image", "input_file", "input_audio", "refusal"]


Content = Annotated[TextContent | OtherContent, Field(discriminator="type")]


class InputItemBase(Item):
    """What every input item may carry as OpenAI returns it: its ``id`` (kept, so an
    output item sent back is listed and referenced by it) and ``status``."""

    id: str | None = Field(None, min_length=1)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class MessageItem(InputItemBase):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Content]


class FunctionCallItem(InputItemBase):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str


class FunctionCallOutputItem(InputItemBase):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[Content]


class ReasoningItem(InputItemBase):
    type: Literal["reasoning"]
    summary: list[dict[str, Any]] = []
    content: list[dict[str, Any]] | None = None


class ItemReference(Item):
    """An item of a stored response, by id (its ``type`` may be left out)."""

    type: Literal["item_reference"] | None = "item_reference"
    id: str = Field(min_length=1)


def _item_type(value: Any) -> str:
    """The item's type; without one, a message (``role``) or an item reference (``id``)."""
    get = value.get if isinstance(value, dict) else lambda key: getattr(value, key, None)
    kind = get("type")
    if isinstance(kind, str):
        return kind
    return "item_reference" if get("role") is None and get("id") is not None else "message"


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")],
    Discriminator(_item_type),
]


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(None, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class StreamOptions(BaseModel):
    include_obfuscation: bool | None = None


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    input: str | list[InputItem] = Field(min_length=1)
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    reasoning: ReasoningConfig | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    store: bool | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, str] | None = Field(None, max_length=16)
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: str | None = None
    include: list[str] | None = None
    truncation: Literal["disabled"] | None = None
    # not implemented: refused when given
    background: Literal[False] | None = None
    top_logprobs: Literal[0] | None = None
    max_tool_calls: int | None = None
    conversation: None = None
    prompt: None = None


Includable = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]


class InputItemsQuery(BaseModel):
    """``GET /v1/responses/{id}/input_items``' query. ``include`` (also as the openai
    client writes it, ``include[]``) changes nothing: stored items are listed whole."""

    limit: int = Field(20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None
    include: list[Includable] | None = None
    include_brackets: list[Includable] | None = Field(None, alias="include[]")
