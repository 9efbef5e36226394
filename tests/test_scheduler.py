"""The real Scheduler over a fake llama.cpp (tests/fake_llama.py): admission, the prefix
cache, cancellation, forced tokens, a full KV cache, errors inside a step, stop."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from fake_llama import ALWAYS, FakeLlama

from freehold.engine.jobs import Job
from freehold.engine.scheduler import Scheduler
from freehold.engine.types import GenerationRequest, ReasoningPlan, SamplingParams, Usage
from freehold.errors import FreeholdError

WAIT = 10  # seconds: an upper bound for anything here, which takes milliseconds


@dataclass
class Outcome:
    """What one job received: content (and reasoning) text, then a finish reason with
    usage, or an error."""

    job: Job
    items: queue.Queue[object] = field(default_factory=queue.Queue)
    first: threading.Event = field(default_factory=threading.Event)
    text: str = ""
    reasoning: str = ""
    finish: str | None = None
    usage: Usage | None = None
    error: FreeholdError | None = None

    def emit(self, item: object) -> None:
        self.items.put(item)
        self.first.set()

    def wait(self) -> Outcome:
        while self.finish is None and self.error is None:
            item = self.items.get(timeout=WAIT)
            if isinstance(item, BaseException):
                assert isinstance(item, FreeholdError), item
                self.error = item
            else:
                for part in getattr(item, "parts", []):
                    if part.kind == "reasoning":
                        self.reasoning += part.text
                    else:
                        self.text += part.text
                self.finish = getattr(item, "finish_reason", None)
                self.usage = getattr(item, "usage", None)
        return self

    def answered(self) -> bool:
        return not self.items.empty()


def submit(sched: Scheduler, prompt: str, max_tokens: int = 50, **kw: object) -> Outcome:
    sampling = SamplingParams(ignore_eos=bool(kw.pop("ignore_eos", False)))
    request = GenerationRequest(prompt=prompt, sampling=sampling, **kw)  # type: ignore[arg-type]
    job = Job(request, sched.backend.tokenize(prompt), max_tokens, emit=lambda item: None)
    out = Outcome(job)
    job.emit = out.emit
    sched.submit(job)
    return out


@contextmanager
def scheduler(
    backend: FakeLlama, slots: int = 2, max_queue: int = 8, start: bool = True
) -> Iterator[Scheduler]:
    sched = Scheduler(backend, slots, max_queue)  # type: ignore[arg-type]
    if start:
        sched.start()
    try:
        yield sched
    finally:
        if backend.hold_decode is not None:
            backend.hold_decode.set()
        sched.stop(WAIT) if start else None


def test_concurrent_requests_each_get_the_reply_with_usage():
    backend = FakeLlama(reply=b"hello world")
    with scheduler(backend) as sched:
        outs = [submit(sched, p) for p in ("one", "two", "three")]
        for out in outs:
            out.wait()
    assert [(o.text, o.finish) for o in outs] == [("hello world", "stop")] * 3
    assert [o.usage and (o.usage.prompt_tokens, o.usage.completion_tokens) for o in outs] == [
        (3, 11),
        (3, 11),
        (5, 11),
    ]
    assert sched.load() == {"slots": 2, "busy": 0, "inflight": 0}
    assert not backend.samplers, "every sampler is freed"


def test_max_tokens_ends_with_length():
    with scheduler(FakeLlama(reply=b"hello world")) as sched:
        out = submit(sched, "hi", max_tokens=4).wait()
    assert (out.text, out.finish) == ("hell", "length")


def test_requests_beyond_slots_and_queue_get_429():
    backend = FakeLlama(hold_decode=threading.Event())
    with scheduler(backend, slots=1, max_queue=1) as sched:
        first = submit(sched, "a")
        second = submit(sched, "b")
        with pytest.raises(FreeholdError) as refused:
            submit(sched, "c")
        assert refused.value.status == 429 and refused.value.code == "queue_full"
        backend.hold_decode.set()  # type: ignore[union-attr]
        assert first.wait().finish == second.wait().finish == "stop"
        assert submit(sched, "d").wait().finish == "stop"


def test_a_prompt_sharing_a_prefix_reuses_the_cached_tokens():
    backend = FakeLlama(reply=b"ok")
    with scheduler(backend, slots=2) as sched:
        first = submit(sched, "the shared system prompt, then question one").wait()
        decoded = backend.decoded_tokens
        second = submit(sched, "the shared system prompt, then question two").wait()
    assert first.usage and first.usage.cached_tokens == 0
    assert second.usage and second.usage.cached_tokens == len(
        "the shared system prompt, then question "
    )
    # only the new tail ("two") and the reply were decoded for the second request
    assert backend.decoded_tokens - decoded == len("two") + len("ok")
    assert second.text == "ok"


def test_the_least_recently_used_slot_is_evicted():
    backend = FakeLlama(reply=b"x")
    with scheduler(backend, slots=2) as sched:
        submit(sched, "alpha alpha").wait()
        submit(sched, "beta beta").wait()
        submit(sched, "gamma gamma").wait()  # no shared prefix: evicts alpha (the oldest)
        beta = submit(sched, "beta beta again").wait()
        alpha = submit(sched, "alpha alpha again").wait()
    assert beta.usage and beta.usage.cached_tokens == len("beta beta")
    assert alpha.usage and alpha.usage.cached_tokens == 0


def test_a_cancelled_running_request_frees_its_slot_and_gets_no_finish():
    backend = FakeLlama(reply=b"abc", n_ctx=4096)
    with scheduler(backend, slots=1) as sched:
        endless = submit(sched, "go", max_tokens=2000, ignore_eos=True)
        assert endless.first.wait(WAIT)
        endless.job.cancelled = True
        after = submit(sched, "next").wait()
        assert after.finish == "stop"
        items = [endless.items.get_nowait() for _ in range(endless.items.qsize())]
    assert all(getattr(i, "finish_reason", None) is None for i in items)
    assert sched.load()["inflight"] == 0 and not backend.samplers


def test_a_request_cancelled_while_waiting_never_starts():
    backend = FakeLlama(hold_decode=threading.Event())
    with scheduler(backend, slots=1) as sched:
        running = submit(sched, "a")
        assert backend.decode_entered.wait(WAIT)
        waiting = submit(sched, "b")
        waiting.job.cancelled = True
        backend.hold_decode.set()  # type: ignore[union-attr]
        assert running.wait().finish == "stop"
        assert submit(sched, "c").wait().finish == "stop"
    assert not waiting.answered()
    assert backend.calls["make_sampler"] == 2, "the cancelled job never got a sampler"


def test_the_thinking_budget_forces_the_closing_marker():
    plan = ReasoningPlan(start="<think>", end="</think>", starts_inside=True, budget=3)
    backend = FakeLlama(reply=b"abcdefgh")
    with scheduler(backend) as sched:
        out = submit(sched, "q", max_tokens=100, reasoning=plan).wait()
    assert (out.reasoning, out.text) == ("abc", "defgh")
    assert backend.calls["sample"] == len("abcdefgh") + 1, "forced tokens are not sampled"
    closing = len("\n</think>\n\n")  # forced, one token per byte
    assert out.usage and out.usage.completion_tokens == len("abcdefgh") + closing


def test_an_end_of_generation_while_thinking_is_replaced_by_the_closing_marker():
    plan = ReasoningPlan(start="<think>", end="</think>", starts_inside=True)
    with scheduler(FakeLlama(reply=b"ab")) as sched:
        out = submit(sched, "q", max_tokens=100, reasoning=plan).wait()
    assert (out.reasoning, out.text, out.finish) == ("ab", "", "stop")
    assert out.usage and out.usage.completion_tokens == len("ab\n</think>\n\n")


def kv_pressure(first: str, prompts: list[str]) -> tuple[FakeLlama, list[Outcome]]:
    """Three jobs submitted before the thread starts; the cache holds 100 cells."""
    backend = FakeLlama(reply=b"0123456789", n_ctx=3 * 128, n_batch=32, cells=100)
    with scheduler(backend, slots=3, start=False) as sched:
        outs = [submit(sched, p, max_tokens=40, ignore_eos=True) for p in [first, *prompts]]
        sched.start()
        for out in outs:
            out.wait()
        sched.stop(WAIT)
    return backend, outs


def test_a_full_kv_cache_fails_only_the_newest_request():
    backend, (a, b, c) = kv_pressure("aaaaa", ["bbbbb", "c" * 60])
    assert c.error is not None and c.error.code == "kv_cache_full" and c.error.status == 503
    assert (a.finish, len(a.text), b.finish, len(b.text)) == ("length", 40, "length", 40)
    assert a.text == b.text == "0123456789" * 4


def test_a_full_kv_cache_fails_the_request_that_outgrows_its_share():
    # 128 cells per slot, so here the first request (250 tokens) is the one that cannot fit
    backend, (big, a, b) = kv_pressure("x" * 250, ["aaaaa", "bbbbb"])
    assert big.error is not None and big.error.code == "kv_cache_full"
    assert a.finish == b.finish == "length" and len(a.text) == len(b.text) == 40


def test_an_error_in_one_slot_fails_that_request_alone_and_the_loop_goes_on():
    backend = FakeLlama(reply=b"hello", fail_at={"sample": {3}})
    with scheduler(backend, slots=2) as sched:
        a, b = submit(sched, "a"), submit(sched, "b")
        a.wait(), b.wait()
        later = submit(sched, "c").wait()
    failed = [o for o in (a, b) if o.error is not None]
    assert len(failed) == 1 and failed[0].error.status == 500  # type: ignore[union-attr]
    assert failed[0].error.code == "internal_error"  # type: ignore[union-attr]
    assert [o.text for o in (a, b) if o.error is None] == ["hello"]
    assert later.text == "hello" and sched.failure is None
    assert sched.load()["inflight"] == 0 and not backend.samplers


def test_an_error_in_decode_fails_that_batch_and_the_loop_goes_on():
    backend = FakeLlama(reply=b"hello", fail_at={"decode": {2}})
    with scheduler(backend, slots=2, start=False) as sched:
        a, b = submit(sched, "a"), submit(sched, "b")
        sched.start()
        a.wait(), b.wait()
        later = submit(sched, "a").wait()
    assert a.error is not None and b.error is not None and a.error.status == 500
    assert later.text == "hello"
    assert later.usage and later.usage.cached_tokens == 0, "suspect KV cells are dropped"


def test_a_dying_thread_answers_every_request_and_says_why():
    backend = FakeLlama(fail_at={"sample": ALWAYS, "free_sampler": ALWAYS})
    with scheduler(backend, slots=1, start=False) as sched:
        running, waiting = submit(sched, "a"), submit(sched, "b")
        sched.start()
        running.wait(), waiting.wait()
        assert sched.stop(WAIT)  # the thread is gone
        with pytest.raises(FreeholdError) as refused:
            submit(sched, "c")
    assert running.error is not None and waiting.error is not None
    assert waiting.error.code == "engine_failed"
    assert sched.failure is not None and "InjectedFault" in sched.failure
    assert refused.value.status == 503 and refused.value.code == "engine_failed"
    assert sched.load() == {"slots": 1, "busy": 0, "inflight": 0}


def test_stop_answers_running_and_waiting_requests():
    with scheduler(FakeLlama(reply=b"abc", n_ctx=4096), slots=1) as sched:
        running = submit(sched, "a", max_tokens=2000, ignore_eos=True)
        assert running.first.wait(WAIT)
        waiting = [submit(sched, "b"), submit(sched, "c")]
        assert sched.stop(WAIT)
        for out in [running, *waiting]:
            out.wait()
    assert running.error is not None and running.error.code == "shutting_down"
    assert [o.error and o.error.status for o in waiting] == [503, 503]


def test_stop_reports_a_thread_that_is_still_decoding():
    backend = FakeLlama(hold_decode=threading.Event())
    with scheduler(backend, slots=1) as sched:
        out = submit(sched, "a")
        assert backend.decode_entered.wait(WAIT)
        assert sched.stop(0.05) is False
        backend.hold_decode.set()  # type: ignore[union-attr]
        assert sched.stop(WAIT) is True
    assert out.wait().error is not None
