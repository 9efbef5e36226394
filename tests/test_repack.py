"""The weight-repack decision (--repack): exact on fake /proc/cpuinfo texts, with and
without AMX, every override spelling, and the AMX probe's child-process verdicts.

The AMX crash itself (llama.cpp issue #20824) needs an AMX host; these tests pin the
logic that keeps such a host from reaching it, on any CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from freehold.cli import build_parser
from freehold.config import Settings, load_settings
from freehold.engine.amx_probe import (
    cached_verdict,
    probe_model,
    resolve_repack,
    run_probe,
)
from freehold.engine.cpu import CpuInfo, decide_repack, parse_cpuinfo, parse_repack, probe_key

AMX_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma f16c avx512f avx512_vnni amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: something else
flags\t\t: fpu
"""
EPYC_CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu sse2 avx2 fma f16c avx512f avx512_vnni
"""
ARM_CPUINFO = """processor\t: 0
Features\t: fp asimd evtstrm aes crc32 asimddp
"""

AMX = parse_cpuinfo(AMX_CPUINFO)
EPYC = parse_cpuinfo(EPYC_CPUINFO)


def test_cpuinfo_parsing() -> None:
    assert AMX.model == "Intel(R) Xeon(R) Platinum 8480+"  # the first processor's
    assert AMX.has_amx and not EPYC.has_amx
    assert AMX.relevant_flags() == [
        "amx_tile", "amx_int8", "amx_bf16", "avx512f", "avx512_vnni", "avx2", "f16c", "fma",
    ]  # fmt: skip
    arm = parse_cpuinfo(ARM_CPUINFO)
    assert not arm.has_amx and "asimd" in arm.flags


@pytest.mark.parametrize(
    ("setting", "cpu", "verdict", "enabled", "reason"),
    [
        ("auto", AMX, None, False, "AMX CPU (llama.cpp issue #20824); --repack forces it on"),
        ("auto", AMX, False, False, "(the probe crashed)"),
        ("auto", AMX, True, True, "probe in a child process ran the AMX path fine"),
        ("auto", EPYC, None, True, "no AMX on this CPU"),
        ("auto", EPYC, False, True, "no AMX on this CPU"),  # a verdict never matters without AMX
        ("on", AMX, None, True, "forced by --repack"),
        ("on", AMX, False, True, "forced by --repack"),
        ("off", EPYC, None, False, "forced by --no-repack"),
        ("off", AMX, True, False, "forced by --no-repack"),
    ],
)
def test_decision(setting, cpu, verdict, enabled, reason) -> None:  # type: ignore[no-untyped-def]
    choice = decide_repack(setting, cpu, verdict)
    assert choice.enabled is enabled
    assert reason in choice.reason
    assert choice.describe().startswith(f"repack {'on' if enabled else 'off'}: ")


@pytest.mark.parametrize(
    ("raw", "value"),
    [("on", "on"), ("TRUE", "on"), ("1", "on"), ("yes", "on"), ("off", "off"),
     ("false", "off"), ("0", "off"), ("no", "off"), ("auto", "auto"), (True, "on"), (False, "off")],
)  # fmt: skip
def test_spellings(raw: object, value: str) -> None:
    assert parse_repack(raw) == value


def test_setting_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().repack == "auto"
    monkeypatch.setenv("FREEHOLD_REPACK", "false")
    assert Settings().repack == "off"
    monkeypatch.setenv("FREEHOLD_REPACK", "maybe")
    with pytest.raises(ValueError, match="repack"):
        Settings()
    monkeypatch.delenv("FREEHOLD_REPACK")
    config = tmp_path / "c.yaml"
    config.write_text("repack: on\n")  # YAML reads `on` as true
    assert load_settings(None, config).repack == "on"
    assert load_settings({"repack": "off"}, config).repack == "off"  # the flag wins


@pytest.mark.parametrize(
    ("argv", "value"),
    [(["--repack"], "on"), (["--no-repack"], "off"), (["--repack", "auto"], "auto"),
     (["--repack", "off"], "off"), ([], None)],
)  # fmt: skip
def test_flags(argv: list[str], value: str | None) -> None:
    args = build_parser().parse_args(["serve", *argv])
    assert getattr(args, "repack", None) == value


def test_probe_verdicts() -> None:
    segv = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    assert run_probe([sys.executable, "-c", segv]) is False
    assert run_probe([sys.executable, "-c", "raise SystemExit(3)"]) is False
    assert run_probe([sys.executable, "-c", "pass"]) is True
    assert run_probe([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2) is None


def test_verdict_cache(tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "amx.json"
    calls: list[str] = []

    def probe(verdict: bool | None):  # type: ignore[no-untyped-def]
        return lambda: calls.append("probe") or verdict

    assert cached_verdict(cache, "k1", probe(None)) is None  # a timeout is not remembered
    assert not cache.exists()
    assert cached_verdict(cache, "k1", probe(False)) is False
    assert cached_verdict(cache, "k1", probe(True)) is False  # cached: not probed again
    assert cached_verdict(cache, "k2", probe(True)) is True
    assert calls == ["probe"] * 3
    assert json.loads(cache.read_text()) == {"k1": False, "k2": True}
    cache.write_text("not json")
    assert cached_verdict(cache, "k1", probe(True)) is True  # a broken cache is rebuilt


def test_probe_key_names_what_the_verdict_depends_on() -> None:
    key = probe_key(AMX, "0.3.36", 2)
    assert "Platinum 8480+" in key and "0.3.36" in key and "threads 2" in key
    assert probe_key(AMX, "0.3.37", 2) != key and probe_key(AMX, "0.3.36", 4) != key


def test_probe_model_prefers_small_served_files(tmp_path: Path) -> None:
    small = tmp_path / "small.gguf"
    small.write_bytes(b"x" * 10)
    embedded = tmp_path / "embedded.gguf"
    big = tmp_path / "big.gguf"
    with big.open("wb") as f:
        f.truncate((1 << 30) + 1)  # sparse
    assert probe_model(small, embedded) == small
    assert probe_model(big, embedded) == embedded
    assert probe_model(big, None) is None
    assert probe_model(tmp_path / "missing.gguf", embedded) == embedded


def test_resolve_uses_the_cached_verdict_on_amx_only(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    cache = tmp_path / "amx.json"
    cache.write_text(json.dumps({probe_key(AMX, "v", 2): True}))
    assert resolve_repack("auto", model, 2, "v", cpu=AMX, cache=cache).enabled
    cache.write_text(json.dumps({probe_key(AMX, "v", 2): False}))
    assert not resolve_repack("auto", model, 2, "v", cpu=AMX, cache=cache).enabled
    assert resolve_repack("on", model, 2, "v", cpu=AMX, cache=cache).enabled
    # without AMX the cache is never read and nothing is probed
    assert resolve_repack("auto", model, 2, "v", cpu=EPYC, cache=tmp_path / "x").enabled
    assert not (tmp_path / "x").exists()
    cpu = CpuInfo("no flags at all", frozenset())
    assert resolve_repack("auto", model, 2, "v", cpu=cpu, cache=cache).enabled
