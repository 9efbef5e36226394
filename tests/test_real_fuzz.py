"""The fuzzing of test_fuzz.py, bounded, against SmolLM2: no 5xx, every 4xx in its
route's error shape, healthy after. --request-timeout 1 bounds every generation the
fuzzer asks for (max_tokens in the millions, ignore_eos), so the run stays short."""

from __future__ import annotations

import os

import httpx
import pytest
from fuzzchecks import CHECKS, HYPOTHESIS, error_shaped, openapi_document, schema_of
from realserver import smollm2_server

pytestmark = pytest.mark.real
EXAMPLES = int(os.environ.get("REAL_FUZZ_EXAMPLES", "6"))
schema = schema_of(openapi_document({}), EXAMPLES, coverage=False)


@pytest.fixture(scope="module")
def real_server(model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("realfuzz") / "server.log"
    args = ("-c", "2048", "-np", "2", "--request-timeout", "1")
    with smollm2_server(model_path, log, *args) as srv:
        yield srv


def test_the_real_servers_document_is_the_fuzzed_one(real_server):
    assert httpx.get(f"{real_server.base_url}/openapi.json").json() == openapi_document({})


@pytest.mark.real
@schema.parametrize()
@HYPOTHESIS(EXAMPLES)
def test_fuzzed_requests_to_the_real_model_get_no_5xx(case, real_server):
    response = case.call(base_url=real_server.base_url, timeout=60)
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert error_shaped(case.path, response), response.text[:500]


def test_penalties_reach_llama_cpp(real_server):
    """The fuzzing found it: any repeat/frequency/presence penalty was a 500 (TypeError:
    llama_sampler_init_penalties takes n_vocab first)."""
    body = {
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "repeat_penalty": 1.3,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
    }
    r = httpx.post(f"{real_server.base_url}/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] > 0


def test_real_server_is_healthy_after_the_fuzzing(real_server):
    assert real_server.health().status_code == 200
    assert real_server.wait_idle(timeout=60)
    assert "Traceback" not in real_server.log.read_text()
