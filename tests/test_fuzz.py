"""Property-based fuzzing of the whole HTTP API from freehold's own OpenAPI document
(schemathesis), against the server as `freehold serve` runs it, over a FakeEngine.

Wanted: no 5xx at all, every 4xx in its route's error shape, the document's status codes
and content types honoured, and a healthy server with no traceback in its log after.
The example count per operation is bounded (FUZZ_EXAMPLES) so the fast tier stays fast.
"""

from __future__ import annotations

import os

import httpx
import pytest
from fakeserver import fake_server
from fuzzchecks import CHECKS, HYPOTHESIS, error_shaped, openapi_document, schema_of

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SETTINGS = {"max_body_bytes": 65536}
schema = schema_of(openapi_document(SETTINGS), EXAMPLES)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    with fake_server(log, SETTINGS) as srv:
        yield srv


def test_the_fuzzed_document_is_the_servers_own(fuzzed_server):
    served = httpx.get(f"{fuzzed_server.base_url}/openapi.json", timeout=10).json()
    assert served == openapi_document(SETTINGS)


@schema.parametrize()
@HYPOTHESIS(EXAMPLES)
def test_fuzzed_requests_get_no_5xx_and_errors_in_the_route_shape(case, fuzzed_server):
    response = case.call(base_url=fuzzed_server.base_url)
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert error_shaped(case.path, response), response.text[:500]


def test_server_is_healthy_after_the_fuzzing(fuzzed_server):
    assert fuzzed_server.health().status_code == 200
    assert fuzzed_server.busy() == 0
    assert fuzzed_server.process.poll() is None
    assert "Traceback" not in fuzzed_server.log.read_text()
