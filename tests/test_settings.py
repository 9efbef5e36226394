"""Settings precedence (flags > env > YAML > defaults) and the flags' help text."""

from __future__ import annotations

import pytest

from freehold.cli import build_parser
from freehold.config import Settings, load_settings


def _flags(argv):
    args = build_parser().parse_args(["serve", *argv])
    return {k: v for k, v in vars(args).items() if k in Settings.model_fields}, args.config


def test_defaults(monkeypatch):
    monkeypatch.delenv("FREEHOLD_CONFIG", raising=False)
    s = load_settings({})
    assert (s.host, s.port, s.ctx_size, s.parallel) == ("127.0.0.1", 8000, 8192, 0)


def test_precedence_cli_over_env_over_yaml_over_defaults(tmp_path, monkeypatch):
    config = tmp_path / "freehold.yaml"
    config.write_text("port: 7000\nctx_size: 1024\nthreads: 3\nhost: 0.0.0.0\n")
    monkeypatch.setenv("FREEHOLD_PORT", "7100")
    monkeypatch.setenv("FREEHOLD_CTX_SIZE", "2048")
    overrides, path = _flags(["--config", str(config), "-c", "4096"])
    s = load_settings(overrides, path)
    assert s.ctx_size == 4096  # flag beats env and YAML
    assert s.port == 7100  # env beats YAML
    assert s.threads == 3 and s.host == "0.0.0.0"  # YAML beats defaults
    assert s.batch_size == 512  # default


def test_llama_server_flag_names(monkeypatch):
    overrides, _ = _flags(
        [
            "-m",
            "x.gguf",
            "-c",
            "512",
            "-t",
            "2",
            "-ngl",
            "10",
            "-np",
            "3",
            "--host",
            "::1",
            "--port",
            "1",
            "--api-key",
            "a",
            "--api-key",
            "b",
        ]
    )
    assert overrides == {
        "model": ["x.gguf"],
        "ctx_size": 512,
        "threads": 2,
        "n_gpu_layers": 10,
        "parallel": 3,
        "host": "::1",
        "port": 1,
        "api_key": ["a", "b"],
    }
    assert load_settings(overrides).api_keys() == ["a", "b"]


def test_env_keys_are_comma_separated_and_yaml_typos_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEHOLD_API_KEY", "k1, k2")
    assert load_settings({}).api_keys() == ["k1", "k2"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("ctx_sise: 10\n")
    with pytest.raises(ValueError, match="ctx_sise"):
        load_settings({}, bad)


def test_help_text_comes_from_settings_descriptions(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = capsys.readouterr().out
    for name in ("ctx_size", "parallel", "api_key", "n_gpu_layers"):
        description = Settings.model_fields[name].description
        assert description and description.split()[0] in out
    assert "-ngl" in out and "--ctx-size" in out and "-np" in out


def test_hardening_flags_and_env(monkeypatch):
    overrides, _ = _flags(
        ["--cors-origins", "https://a.example", "--cors-origins", "*", "--request-timeout", "2.5"]
    )
    s = load_settings(overrides)
    assert s.cors_origins == ["https://a.example", "*"] and s.request_timeout == 2.5
    monkeypatch.setenv("FREEHOLD_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("FREEHOLD_SHUTDOWN_TIMEOUT", "5")
    s = load_settings({})
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert (s.shutdown_timeout, s.client_timeout) == (5, 30)
