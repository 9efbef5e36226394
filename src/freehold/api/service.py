"""The glue between routes and the engine: model lookup, prompt rendering, request building."""

from __future__ import annotations

from dataclasses import dataclass

from freehold.api import translate as tr
from freehold.api.schemas import ChatCompletionRequest, CompletionRequest
from freehold.chat.template import choose_template, render
from freehold.config import Settings
from freehold.engine.types import Engine, GenerationRequest
from freehold.errors import FreeholdError, not_found


@dataclass
class Prepared:
    request: GenerationRequest
    meta: tr.ResponseMeta
    split: tr.Splitter = tr.plain_split


class Service:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._template: str | None = None

    def engine_load(self) -> dict[str, int]:
        return self.engine.load()

    def capabilities(self) -> dict[str, object]:
        return {}

    def model_ids(self) -> set[str]:
        info = self.engine.info
        return {info.id, *info.aliases}

    def check_model(self, model: str | None) -> str:
        if model is not None and model not in self.model_ids():
            raise not_found(
                f"the model '{model}' does not exist; this server serves "
                f"'{self.engine.info.id}' (see GET /v1/models)",
                code="model_not_found",
                param="model",
            )
        if not self.engine.ready:
            raise FreeholdError(
                "the model is still loading; retry shortly",
                status=503,
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "2"},
            )
        return self.engine.info.id

    @property
    def template(self) -> str:
        if self._template is None:
            self._template = choose_template(
                self.engine.info.chat_template,
                self.settings.chat_template,
                self.settings.fallback_template,
            )
        return self._template

    def chat(self, body: ChatCompletionRequest) -> Prepared:
        model = self.check_model(body.model)
        tr.refuse_unsupported(body)
        info = self.engine.info
        prompt = render(
            self.template,
            tr.message_dicts(body.messages),
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            add_generation_prompt=True,
            **(body.chat_template_kwargs or {}),
        )
        return self._prepare(body, prompt, model, chat=True)

    def completion(self, body: CompletionRequest) -> Prepared:
        model = self.check_model(body.model)
        tr.refuse_unsupported(body)
        return self._prepare(body, tr.completion_prompt(body.prompt), model, chat=False)

    def _prepare(
        self, body: ChatCompletionRequest | CompletionRequest, prompt: str, model: str, chat: bool
    ) -> Prepared:
        include_usage = not body.stream or bool(
            body.stream_options and body.stream_options.include_usage
        )
        meta = tr.ResponseMeta(model=model, chat=chat, include_usage=include_usage)
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=tr.max_tokens(body),
            sampling=tr.sampling_params(body),
            stop=tr.stop_strings(body.stop),
            request_id=meta.id,
        )
        return Prepared(request, meta)
