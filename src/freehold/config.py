"""Settings: the single source of defaults and help text.

Precedence: command-line flags > environment (FREEHOLD_*) > YAML file (--config) > defaults.
Each field's ``flags`` name its command-line options, spelled as llama-server spells them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from freehold.engine.cpu import Repack, parse_repack

Switch = Literal["on", "off", "auto"]
ReasoningShape = Literal["reasoning_content", "reasoning", "both", "inline", "hidden"]


def _flags(*names: str) -> Any:
    return {"flags": list(names)}


def default_models_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("freehold")) / "models"


class ModelConfig(BaseModel):
    """One model of a several-model server (YAML ``models:``); unset fields take the
    server's settings."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    model: str
    aliases: list[str] = Field(default_factory=list)
    keep_alive: float | None = None
    lora: list[str] = Field(default_factory=list)
    ctx_size: int | None = Field(None, ge=0)
    parallel: int | None = Field(None, ge=0)
    threads: int | None = Field(None, ge=0)
    threads_batch: int | None = Field(None, ge=0)
    n_gpu_layers: int | None = None
    batch_size: int | None = Field(None, ge=16)
    flash_attn: Switch | None = None
    chat_template: str | None = None
    fallback_template: str | None = None
    mmproj: Path | None = None
    reasoning: Switch | None = None
    reasoning_format: ReasoningShape | None = None
    reasoning_budgets: dict[str, int | None] | None = None

    def overrides(self) -> dict[str, Any]:
        """The server settings this model sets for itself."""
        own = {"name", "model", "aliases", "keep_alive", "lora"}
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k not in own}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FREEHOLD_", extra="forbid")

    model: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="a model to serve: GGUF file path, hub reference (owner/repo:QUANT) or "
        "store alias, optionally NAME=MODEL (a bare path serves as its file stem); "
        "repeatable; default: the embedded SmolLM2-135M-Instruct plus every model in the store",
        json_schema_extra=_flags("-m", "--model"),
    )
    alias: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="another name for a model, NAME=MODEL (repeatable), e.g. "
        "gpt-4o-mini=smollm2; a bare NAME is the id of the first model",
        json_schema_extra=_flags("-a", "--alias"),
    )
    mmproj: Path | None = Field(
        None,
        description="the model's vision projector (mmproj GGUF): images in chat messages",
        json_schema_extra=_flags("--mmproj"),
    )
    allow_image_urls: bool = Field(
        False,
        description="fetch http(s) image URLs of chat messages (off: data: URLs only)",
        json_schema_extra=_flags("--allow-image-urls"),
    )
    max_image_bytes: int = Field(
        10 << 20,
        ge=1,
        description="largest image accepted (bytes, after base64 decoding or fetching)",
        json_schema_extra=_flags("--max-image-bytes"),
    )
    max_image_pixels: int = Field(
        4096 * 4096,
        ge=1,
        description="largest image accepted (width x height)",
        json_schema_extra=_flags("--max-image-pixels"),
    )
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="per-model settings (YAML): name, model, aliases, keep_alive, lora and "
        "any of ctx_size, parallel, threads, n_gpu_layers, reasoning, ...",
    )
    keep_alive: float = Field(
        300,
        description="seconds a model stays loaded after its last request (-1 = never "
        "unload; a server of one model keeps it unless this is given)",
        json_schema_extra=_flags("--keep-alive"),
    )
    max_loaded: int = Field(
        3,
        ge=0,
        description="models loaded at once; the least recently used idle one is unloaded "
        "to load another (0 = no limit)",
        json_schema_extra=_flags("--max-loaded"),
    )
    memory_budget: str = Field(
        "auto",
        pattern=r"^(auto|\d+)$",
        description="bytes the loaded models may take (weights + KV cache estimate): a "
        "number, 'auto' (3/4 of RAM, or of GPU memory when offloading) or 0 (no limit)",
        json_schema_extra=_flags("--memory-budget"),
    )
    lora: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="a LoRA adapter for a model, MODEL/NAME=PATH[:SCALE] (repeatable); "
        "requests reach it as model MODEL:NAME or with lora: [{name, scale}]",
        json_schema_extra=_flags("--lora"),
    )
    host: str = Field(
        "127.0.0.1", description="address to bind", json_schema_extra=_flags("--host")
    )
    port: int = Field(
        8000, ge=0, le=65535, description="port to bind", json_schema_extra=_flags("--port")
    )
    ctx_size: int = Field(
        8192,
        ge=0,
        description="total context size in tokens, shared by the slots "
        "(0 = the model's training context)",
        json_schema_extra=_flags("-c", "--ctx-size"),
    )
    parallel: int = Field(
        0,
        ge=0,
        description="number of slots decoded together (0 = auto from context and cores)",
        json_schema_extra=_flags("-np", "--parallel"),
    )
    threads: int = Field(
        0,
        ge=0,
        description="threads for generation (0 = all cores)",
        json_schema_extra=_flags("-t", "--threads"),
    )
    threads_batch: int = Field(
        0,
        ge=0,
        description="threads for prompt processing (0 = same as --threads)",
        json_schema_extra=_flags("-tb", "--threads-batch"),
    )
    n_gpu_layers: int = Field(
        -1,
        description="layers to offload to the GPU (-1 = all; ignored by a CPU build)",
        json_schema_extra=_flags("-ngl", "--n-gpu-layers", "--gpu-layers"),
    )
    batch_size: int = Field(
        512,
        ge=16,
        description="most tokens decoded in one step (prompt chunk size)",
        json_schema_extra=_flags("-b", "--batch-size"),
    )
    flash_attn: Switch = Field(
        "auto",
        description="flash attention: on, off or auto",
        json_schema_extra=_flags("-fa", "--flash-attn"),
    )
    repack: Repack = Field(
        "auto",
        description="llama.cpp weight repacking into its extra CPU buffer types (repack, AMX): "
        "--repack, --no-repack, or auto = off on AMX CPUs unless a one-time probe shows the "
        "AMX path works (llama.cpp issue #20824), on elsewhere",
        json_schema_extra={"flags": ["--repack"], "switch": True},
    )
    max_queue: int = Field(
        64,
        ge=0,
        description="requests that may wait for a slot; beyond it the server "
        "answers 429 with Retry-After",
        json_schema_extra=_flags("--max-queue"),
    )
    max_body_bytes: int = Field(
        8 << 20,
        ge=1024,
        description="largest request body accepted (bytes)",
        json_schema_extra=_flags("--max-body-bytes"),
    )
    request_timeout: float = Field(
        0,
        ge=0,
        description="most seconds a request may take, queue wait included; its generation "
        'then ends with finish_reason "length" (0 = no limit)',
        json_schema_extra=_flags("--request-timeout"),
    )
    client_timeout: float = Field(
        30,
        gt=0,
        description="seconds a client has to send its request headers, and again its body; "
        "a slower client is disconnected (slowloris)",
        json_schema_extra=_flags("--client-timeout"),
    )
    shutdown_timeout: float = Field(
        20,
        ge=0,
        description="on SIGTERM, seconds running requests get to finish before they end "
        'with finish_reason "length" (queued ones get a 503)',
        json_schema_extra=_flags("--shutdown-timeout"),
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins browsers may call the API from, e.g. https://app.example "
        "(repeatable; '*' for any; env: comma-separated; default: none)",
        json_schema_extra=_flags("--cors-origins"),
    )
    responses_store: int = Field(
        256,
        ge=0,
        description="Responses API: how many stored responses to keep in memory for "
        "previous_response_id and GET/DELETE (oldest dropped first; lost on restart; 0: none)",
        json_schema_extra=_flags("--responses-store"),
    )
    api_key: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="API key clients must send as a Bearer token "
        "(repeatable; env: comma-separated)",
        json_schema_extra=_flags("--api-key"),
    )
    api_key_file: Path | None = Field(
        None,
        description="file with one API key per line",
        json_schema_extra=_flags("--api-key-file"),
    )
    chat_template: str | None = Field(
        None,
        description="chat template (Jinja text or a file path) overriding the model's",
        json_schema_extra=_flags("--chat-template"),
    )
    fallback_template: str = Field(
        "chatml",
        description="template for models that have none: 'chatml' or Jinja text or a file path",
        json_schema_extra=_flags("--fallback-template"),
    )
    reasoning: Switch = Field(
        "auto",
        description="thinking when a request does not say: on, off or auto "
        "(the model's own default)",
        json_schema_extra=_flags("--reasoning"),
    )
    reasoning_format: ReasoningShape = Field(
        "reasoning_content",
        description="where thinking goes in responses",
        json_schema_extra=_flags("--reasoning-format"),
    )
    reasoning_budgets: dict[str, int | None] = Field(
        default_factory=lambda: {"minimal": 256, "low": 1024, "medium": 4096, "high": None},
        description="thinking-token budget of each reasoning_effort level (YAML/env JSON)",
    )
    models_dir: Path = Field(
        default_factory=default_models_dir,
        description="local model store",
        json_schema_extra=_flags("--models-dir"),
    )
    offline: bool = Field(
        False,
        description="never touch the network (sets HF_HUB_OFFLINE=1)",
        json_schema_extra=_flags("--offline"),
    )
    hf_token: str | None = Field(
        default_factory=lambda: os.environ.get("HF_TOKEN"),
        description="Hugging Face token for gated or private repos (default: $HF_TOKEN)",
        json_schema_extra=_flags("--token"),
    )
    webui: bool = Field(
        True,
        description="serve the web chat page at / (--no-webui: the API only)",
        json_schema_extra=_flags("--webui"),
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="log level",
        json_schema_extra=_flags("--log-level"),
    )

    @field_validator("repack", mode="before")
    @classmethod
    def _repack_spellings(cls, value: Any) -> Any:
        try:
            return parse_repack(value)
        except ValueError:
            return value  # pydantic names the allowed values

    @field_validator("api_key", "cors_origins", "model", "alias", "lora", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    def api_keys(self) -> list[str]:
        """Every accepted key: --api-key values plus the lines of --api-key-file."""
        keys = list(self.api_key)
        if self.api_key_file is not None:
            lines = self.api_key_file.read_text().splitlines()
            keys += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return keys


def load_settings(overrides: dict[str, Any] | None = None, config: Path | None = None) -> Settings:
    """Settings from flags (``overrides``), env, and a YAML file (``config``, or
    $FREEHOLD_CONFIG)."""
    config = config or (Path(p) if (p := os.environ.get("FREEHOLD_CONFIG")) else None)
    if config is None:
        return Settings(**(overrides or {}))

    class FromFile(Settings):
        model_config = SettingsConfigDict(
            env_prefix="FREEHOLD_", extra="forbid", yaml_file=str(config)
        )

    if not config.is_file():
        raise FileNotFoundError(f"config file not found: {config}")
    return FromFile(**(overrides or {}))
