#!/usr/bin/env python3
"""Generate the tiny Hugging Face-layout model fixtures under fixtures/hf/.

Usage
-----
    python3 scripts/make_hf_fixtures.py            # (re)generate fixtures/hf/*, then run the checks
    python3 scripts/make_hf_fixtures.py --check    # only re-read fixtures/hf/* and run the checks

Needs Python 3 and NumPy only (no torch / transformers / safetensors / tokenizers).

Each fixture is a tiny random language model stored exactly as a Hugging Face Hub repository
(config.json, *.safetensors with the real key names, tokenizer.json, ...) plus `reference.safetensors`
holding two token sequences and the hidden states of a NumPy float64 forward pass written from the
Hugging Face transformers modeling code (GPT2LMHeadModel, GPTNeoXForCausalLM, LlamaForCausalLM,
Qwen2ForCausalLM), using TransformerLens hook names. The reference forward always runs on weights
*read back* from the written safetensors files and decoded from their stored dtype (F32 / F16 /
BF16), so storage rounding is part of the reference.

Safetensors files are written by hand: u64 little-endian header length, a JSON header padded with
spaces to a multiple of 8 bytes, then the raw little-endian tensor data. Tensors are laid out like
the safetensors library does (larger dtypes first, then by name) so every tensor is aligned.

Everything is deterministic (fixed NumPy seeds, sorted JSON), so re-running gives identical bytes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "hf")

D_MODEL = 32
N_LAYERS = 2
N_HEADS = 4
N_CTX = 64
BATCH, SEQ = 2, 12
N_MERGES = 100

# ---------------------------------------------------------------------------------------------
# Safetensors writer / reader
# ---------------------------------------------------------------------------------------------

DTYPE_SIZE = {"F64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, round-to-nearest-even (as torch's .to(torch.bfloat16))."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    if np.isnan(a).any():
        raise ValueError("NaN in weights")
    rounding_bias = ((u >> np.uint64(16)) & np.uint64(1)) + np.uint64(0x7FFF)
    return ((u + rounding_bias) >> np.uint64(16)).astype("<u2")


def encode(arr: np.ndarray, dtype: str) -> bytes:
    if dtype == "F32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(np.asarray(arr, dtype=np.float32).astype("<f2")).tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(np.asarray(arr, dtype=np.float32)).tobytes()
    if dtype == "I32":
        return np.ascontiguousarray(arr, dtype="<i4").tobytes()
    raise ValueError(dtype)


def write_safetensors(path: str, tensors: dict[str, tuple[str, np.ndarray]]) -> int:
    """tensors: name -> (dtype, array). Returns the number of tensor data bytes."""
    order = sorted(tensors, key=lambda n: (-DTYPE_SIZE[tensors[n][0]], n))
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in order:
        dtype, arr = tensors[name]
        blob = encode(arr, dtype)
        assert len(blob) == int(np.prod(arr.shape, dtype=np.int64)) * DTYPE_SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return offset


def read_safetensors(path: str) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    """Independent minimal reader. Returns (name -> float64/int64 array, name -> dtype, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    if n % 8 != 0:
        raise ValueError(f"{path}: header length {n} not a multiple of 8")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    spans = []
    out, dtypes = {}, {}
    for name, info in header.items():
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        count = 1
        for s in shape:
            count *= s
        if e - b != count * DTYPE_SIZE[dtype]:
            raise ValueError(f"{path}:{name}: byte span {e - b} != {count} x {dtype}")
        if b % DTYPE_SIZE[dtype] != 0:
            raise ValueError(f"{path}:{name}: misaligned offset {b}")
        spans.append((b, e))
        chunk = data[b:e]
        if dtype == "F32":
            a = np.frombuffer(chunk, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            a = np.frombuffer(chunk, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":
            bits = np.frombuffer(chunk, dtype="<u2").astype("<u4") << np.uint32(16)
            a = bits.view("<f4").astype(np.float64)
        elif dtype == "I32":
            a = np.frombuffer(chunk, dtype="<i4").astype(np.int64)
        else:
            raise ValueError(dtype)
        out[name] = a.reshape(shape)
        dtypes[name] = dtype
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError(f"{path}: gap/overlap at byte {b} (expected {pos})")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: data has {len(data)} bytes, tensors cover {pos}")
    return out, dtypes, meta


def decode_like_storage(arr: np.ndarray, dtype: str) -> np.ndarray:
    """What a tensor becomes after being stored as `dtype` and decoded (float64)."""
    if dtype == "F32":
        return np.asarray(arr, dtype=np.float32).astype(np.float64)
    if dtype == "F16":
        return np.asarray(arr, dtype=np.float32).astype(np.float16).astype(np.float64)
    if dtype == "BF16":
        bits = f32_to_bf16_bits(np.asarray(arr, dtype=np.float32)).astype("<u4") << np.uint32(16)
        return bits.view("<f4").astype(np.float64)
    raise ValueError(dtype)


# ---------------------------------------------------------------------------------------------
# Byte-level BPE tokenizer (GPT-2 style)
# ---------------------------------------------------------------------------------------------

PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Then the dog wakes up and the fox runs into "
    "the forest, where the other foxes are sleeping under the tall trees. In the morning the "
    "animals of the forest gather near the river to drink the cold water, and the birds sing "
    "their songs in the trees. There are 3 foxes, 12 birds and 1 old dog; they have lived there "
    "for years and they know every path in the forest. When the sun sets, the forest is quiet "
    "again and the animals go back to their homes to sleep until the next morning comes.\n"
    "It is the story of the forest, and it is the story of the animals that live in it. The "
    "children of the village like to hear this story, and their mothers and fathers tell it to "
    "them every evening before they go to sleep. Some of them think that the foxes are the "
    "heroes, others think that the old dog is the real hero of the story.\n"
)

# GPT-2's pre-tokenisation pattern with \p{L} / \p{N} restricted to ASCII letters / digits; this is
# exact for ASCII text, which is all this script ever feeds it.
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
EOT = "<|endoftext|>"


def bytes_to_unicode() -> list[tuple[int, str]]:
    """GPT-2's byte -> printable character map, in GPT-2's vocabulary order."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_PAIRS = bytes_to_unicode()
BYTE_ENCODER = dict(BYTE_PAIRS)


def byte_level(word: str) -> str:
    return "".join(BYTE_ENCODER[b] for b in word.encode("utf-8"))


def learn_bpe(text: str, n_merges: int) -> list[tuple[str, str]]:
    words = Counter(byte_level(w) for w in PRETOKENIZE.findall(text))
    splits = {w: list(w) for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter = Counter()
        for w, cnt in words.items():
            sym = splits[w]
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += cnt
        if not pairs:
            break
        best_count = max(pairs.values())
        if best_count < 2:
            break
        best = min(p for p, c in pairs.items() if c == best_count)  # deterministic tie-break
        merges.append(best)
        for w in words:
            sym = splits[w]
            i, new = 0, []
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    new.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    new.append(sym[i])
                    i += 1
            splits[w] = new
    return merges


def build_tokenizer():
    merges = learn_bpe(PARAGRAPH, N_MERGES)
    vocab: dict[str, int] = {}
    for _, ch in BYTE_PAIRS:
        vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    eot_id = len(vocab)
    vocab[EOT] = eot_id
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot_id, "content": EOT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    return tok, vocab, merges, eot_id


def bpe_encode(text: str, vocab: dict[str, int], merges: list[tuple[str, str]]) -> list[int]:
    """Plain GPT-2 BPE encoding (special token split out first)."""
    ranks = {m: i for i, m in enumerate(merges)}
    ids: list[int] = []
    for k, part in enumerate(text.split(EOT)):
        if k > 0:
            ids.append(vocab[EOT])
        for w in PRETOKENIZE.findall(part):
            sym = list(byte_level(w))
            while len(sym) > 1:
                cand = [(ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(sym, sym[1:]))]
                r, _ = min(cand)
                if r == math.inf:
                    break
                pair = merges[r]
                i, new = 0, []
                while i < len(sym):
                    if i + 1 < len(sym) and (sym[i], sym[i + 1]) == pair:
                        new.append(sym[i] + sym[i + 1])
                        i += 2
                    else:
                        new.append(sym[i])
                        i += 1
                sym = new
            ids.extend(vocab[s] for s in sym)
    return ids


def bpe_decode(ids: list[int], vocab: dict[str, int]) -> str:
    inv = {i: s for s, i in vocab.items()}
    dec = {c: b for b, c in BYTE_PAIRS}
    out = bytearray()
    for i in ids:
        s = inv[i]
        if s == EOT:
            out += s.encode()
        else:
            out += bytes(dec[c] for c in s)
    return out.decode("utf-8")


TOKENIZER_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! There are 12 foxes in the forest.",
    "  two  spaces, a tab\tand\na newline  ",
    "It's the fox's story; they'll know.<|endoftext|>The end",
    PARAGRAPH,
]

# ---------------------------------------------------------------------------------------------
# NumPy float64 reference forwards (written from the HF transformers modeling code)
# ---------------------------------------------------------------------------------------------


def layer_norm(x, w, b, eps):  # torch.nn.LayerNorm: biased variance
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):  # LlamaRMSNorm / Qwen2RMSNorm
    var = (x * x).mean(-1, keepdims=True)
    return w * (x / np.sqrt(var + eps))


def gelu_new(x):  # transformers.activations.NewGELUActivation ("gelu_new")
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):  # transformers "gelu" -> torch.nn.functional.gelu (exact, erf)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def causal_attention(q, k, v, scale):
    """q [B,H,T,d]; k, v [B,Hkv,T,d] with H % Hkv == 0 (query head h reads kv head h // (H/Hkv),
    as HF repeat_kv). Returns z [B,H,T,d] and the attention pattern [B,H,T,T]."""
    B, H, T, _ = q.shape
    n_rep = H // k.shape[1]
    kv_index = np.arange(H) // n_rep
    k, v = k[:, kv_index], v[:, kv_index]
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) * scale
    mask = np.tril(np.ones((T, T), dtype=bool))
    scores = np.where(mask, scores, -np.inf)
    scores -= scores.max(-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhqk,bhkd->bhqd", p, v), p


def causal_attention_repeat(q, k, v, scale):
    """Second implementation for the GQA check: explicit repeat of kv heads, per-head loops."""
    B, H, T, d = q.shape
    n_rep = H // k.shape[1]
    k = np.repeat(k, n_rep, axis=1)  # == expand(B, Hkv, n_rep, T, d).reshape(B, H, T, d)
    v = np.repeat(v, n_rep, axis=1)
    z = np.zeros_like(q)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                s = np.array([q[b, h, t] @ k[b, h, j] * scale for j in range(t + 1)])
                w = np.exp(s - s.max())
                w /= w.sum()
                z[b, h, t] = sum(w[j] * v[b, h, j] for j in range(t + 1))
    return z


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def rope_cos_sin(dim, base, T):
    inv_freq = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float64) / dim))
    freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)  # [T, dim]
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin):  # x [B,H,T,dim]
    return x * cos + rotate_half(x) * sin


def split_heads(x, n):  # [B,T,n*d] -> [B,n,T,d]
    B, T, _ = x.shape
    return x.reshape(B, T, n, -1).transpose(0, 2, 1, 3)


def merge_heads(z):  # [B,H,T,d] -> [B,T,H*d]
    B, H, T, d = z.shape
    return z.transpose(0, 2, 1, 3).reshape(B, T, H * d)


def gpt2_forward(W, cfg, tokens, prefix=""):
    g = lambda k: W[prefix + k]  # noqa: E731
    H, eps = cfg["n_head"], cfg["layer_norm_epsilon"]
    T = tokens.shape[1]
    hooks = {}
    x = g("wte.weight")[tokens] + g("wpe.weight")[np.arange(T)][None]
    patterns = []
    for L in range(cfg["n_layer"]):
        p = f"h.{L}."
        hooks[f"blocks.{L}.hook_resid_pre"] = x
        h = layer_norm(x, g(p + "ln_1.weight"), g(p + "ln_1.bias"), eps)
        qkv = h @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")  # Conv1D: x @ W[in,out] + b
        D = x.shape[-1]
        q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]
        q, k, v = split_heads(q, H), split_heads(k, H), split_heads(v, H)
        z, pat = causal_attention(q, k, v, 1.0 / math.sqrt(D // H))
        patterns.append(pat)
        attn_out = merge_heads(z) @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias")
        mid = x + attn_out
        h2 = layer_norm(mid, g(p + "ln_2.weight"), g(p + "ln_2.bias"), eps)
        mlp_out = gelu_new(h2 @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias")) \
            @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias")
        x = mid + mlp_out
        hooks[f"blocks.{L}.hook_attn_out"] = attn_out
        hooks[f"blocks.{L}.hook_resid_mid"] = mid
        hooks[f"blocks.{L}.hook_mlp_out"] = mlp_out
        hooks[f"blocks.{L}.hook_resid_post"] = x
    ln_f = layer_norm(x, g("ln_f.weight"), g("ln_f.bias"), eps)
    hooks["ln_final"] = ln_f
    hooks["logits"] = ln_f @ g("wte.weight").T  # tied lm_head
    return hooks, patterns


def neox_forward(W, cfg, tokens):
    H, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    D = cfg["hidden_size"]
    hd = D // H
    rot = int(hd * cfg["rotary_pct"])
    T = tokens.shape[1]
    cos, sin = rope_cos_sin(rot, cfg["rotary_emb_base"], T)
    act = {"gelu": gelu_erf, "gelu_new": gelu_new}[cfg["hidden_act"]]
    hooks = {}
    x = W["gpt_neox.embed_in.weight"][tokens]
    patterns = []
    for L in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{L}."
        hooks[f"blocks.{L}.hook_resid_pre"] = x
        h = layer_norm(x, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps)
        qkv = h @ W[p + "attention.query_key_value.weight"].T + W[p + "attention.query_key_value.bias"]
        B = x.shape[0]
        qkv = qkv.reshape(B, T, H, 3 * hd).transpose(0, 2, 1, 3)  # per-head [q | k | v]
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        q = np.concatenate([apply_rope(q[..., :rot], cos, sin), q[..., rot:]], axis=-1)
        k = np.concatenate([apply_rope(k[..., :rot], cos, sin), k[..., rot:]], axis=-1)
        z, pat = causal_attention(q, k, v, hd ** -0.5)
        patterns.append(pat)
        attn_out = merge_heads(z) @ W[p + "attention.dense.weight"].T + W[p + "attention.dense.bias"]
        assert cfg["use_parallel_residual"]
        h2 = layer_norm(x, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps)
        mlp_out = act(h2 @ W[p + "mlp.dense_h_to_4h.weight"].T + W[p + "mlp.dense_h_to_4h.bias"]) \
            @ W[p + "mlp.dense_4h_to_h.weight"].T + W[p + "mlp.dense_4h_to_h.bias"]
        x = x + attn_out + mlp_out  # hidden_states = mlp_output + attn_output + hidden_states
        hooks[f"blocks.{L}.hook_attn_out"] = attn_out
        hooks[f"blocks.{L}.hook_mlp_out"] = mlp_out
        hooks[f"blocks.{L}.hook_resid_post"] = x
    ln_f = layer_norm(x, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    hooks["ln_final"] = ln_f
    hooks["logits"] = ln_f @ W["embed_out.weight"].T
    return hooks, patterns


def llama_forward(W, cfg, tokens, attention=causal_attention):
    """LlamaForCausalLM / Qwen2ForCausalLM (Qwen2 = Llama + q/k/v biases)."""
    H, Hkv, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    D = cfg["hidden_size"]
    hd = cfg.get("head_dim") or D // H
    T = tokens.shape[1]
    cos, sin = rope_cos_sin(hd, cfg["rope_theta"], T)
    hooks = {}
    x = W["model.embed_tokens.weight"][tokens]
    patterns = []

    def lin(h, name):
        y = h @ W[name + ".weight"].T
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        hooks[f"blocks.{L}.hook_resid_pre"] = x
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = split_heads(lin(h, p + "self_attn.q_proj"), H)
        k = split_heads(lin(h, p + "self_attn.k_proj"), Hkv)
        v = split_heads(lin(h, p + "self_attn.v_proj"), Hkv)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        res = attention(q, k, v, hd ** -0.5)
        z = res[0] if isinstance(res, tuple) else res
        if isinstance(res, tuple):
            patterns.append(res[1])
        attn_out = lin(merge_heads(z), p + "self_attn.o_proj")
        mid = x + attn_out
        h2 = rms_norm(mid, W[p + "post_attention_layernorm.weight"], eps)
        mlp_out = lin(silu(lin(h2, p + "mlp.gate_proj")) * lin(h2, p + "mlp.up_proj"), p + "mlp.down_proj")
        x = mid + mlp_out
        hooks[f"blocks.{L}.hook_attn_out"] = attn_out
        hooks[f"blocks.{L}.hook_resid_mid"] = mid
        hooks[f"blocks.{L}.hook_mlp_out"] = mlp_out
        hooks[f"blocks.{L}.hook_resid_post"] = x
    ln_f = rms_norm(x, W["model.norm.weight"], eps)
    hooks["ln_final"] = ln_f
    lm = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    hooks["logits"] = ln_f @ lm.T
    return hooks, patterns


# ---------------------------------------------------------------------------------------------
# Random weights
# ---------------------------------------------------------------------------------------------


def mat(rng, *shape):
    return (0.2 * rng.standard_normal(shape)).astype(np.float32)


def norm_w(rng, n):
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def bias(rng, n):
    return (0.1 * rng.standard_normal(n)).astype(np.float32)


def emb(rng, *shape):
    return (0.5 * rng.standard_normal(shape)).astype(np.float32)


def causal_buffer():
    return np.tril(np.ones((N_CTX, N_CTX), dtype=np.float32)).reshape(1, 1, N_CTX, N_CTX)


def gpt2_weights(V, seed=1):
    rng = np.random.default_rng(seed)
    D = D_MODEL
    W = {"wte.weight": emb(rng, V, D), "wpe.weight": emb(rng, N_CTX, D)}
    for L in range(N_LAYERS):
        p = f"h.{L}."
        W[p + "ln_1.weight"], W[p + "ln_1.bias"] = norm_w(rng, D), bias(rng, D)
        W[p + "attn.c_attn.weight"], W[p + "attn.c_attn.bias"] = mat(rng, D, 3 * D), bias(rng, 3 * D)
        W[p + "attn.c_proj.weight"], W[p + "attn.c_proj.bias"] = mat(rng, D, D), bias(rng, D)
        W[p + "ln_2.weight"], W[p + "ln_2.bias"] = norm_w(rng, D), bias(rng, D)
        W[p + "mlp.c_fc.weight"], W[p + "mlp.c_fc.bias"] = mat(rng, D, 4 * D), bias(rng, 4 * D)
        W[p + "mlp.c_proj.weight"], W[p + "mlp.c_proj.bias"] = mat(rng, 4 * D, D), bias(rng, D)
    W["ln_f.weight"], W["ln_f.bias"] = norm_w(rng, D), bias(rng, D)
    return W


def neox_weights(V, seed=3):
    rng = np.random.default_rng(seed)
    D, I = D_MODEL, 4 * D_MODEL
    W = {"gpt_neox.embed_in.weight": emb(rng, V, D)}
    for L in range(N_LAYERS):
        p = f"gpt_neox.layers.{L}."
        W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"] = norm_w(rng, D), bias(rng, D)
        W[p + "post_attention_layernorm.weight"] = norm_w(rng, D)
        W[p + "post_attention_layernorm.bias"] = bias(rng, D)
        W[p + "attention.query_key_value.weight"] = mat(rng, 3 * D, D)
        W[p + "attention.query_key_value.bias"] = bias(rng, 3 * D)
        W[p + "attention.dense.weight"], W[p + "attention.dense.bias"] = mat(rng, D, D), bias(rng, D)
        W[p + "mlp.dense_h_to_4h.weight"], W[p + "mlp.dense_h_to_4h.bias"] = mat(rng, I, D), bias(rng, I)
        W[p + "mlp.dense_4h_to_h.weight"], W[p + "mlp.dense_4h_to_h.bias"] = mat(rng, D, I), bias(rng, D)
    W["gpt_neox.final_layer_norm.weight"] = norm_w(rng, D)
    W["gpt_neox.final_layer_norm.bias"] = bias(rng, D)
    W["embed_out.weight"] = mat(rng, V, D) * np.float32(2.5)  # std 0.5 like the input embedding
    return W


def llama_weights(V, cfg, seed, qkv_bias, tied):
    rng = np.random.default_rng(seed)
    D, I = cfg["hidden_size"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    W = {"model.embed_tokens.weight": emb(rng, V, D)}
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        W[p + "input_layernorm.weight"] = norm_w(rng, D)
        W[p + "self_attn.q_proj.weight"] = mat(rng, H * hd, D)
        W[p + "self_attn.k_proj.weight"] = mat(rng, Hkv * hd, D)
        W[p + "self_attn.v_proj.weight"] = mat(rng, Hkv * hd, D)
        if qkv_bias:
            W[p + "self_attn.q_proj.bias"] = bias(rng, H * hd)
            W[p + "self_attn.k_proj.bias"] = bias(rng, Hkv * hd)
            W[p + "self_attn.v_proj.bias"] = bias(rng, Hkv * hd)
        W[p + "self_attn.o_proj.weight"] = mat(rng, D, H * hd)
        W[p + "post_attention_layernorm.weight"] = norm_w(rng, D)
        W[p + "mlp.gate_proj.weight"] = mat(rng, I, D)
        W[p + "mlp.up_proj.weight"] = mat(rng, I, D)
        W[p + "mlp.down_proj.weight"] = mat(rng, D, I)
    W["model.norm.weight"] = norm_w(rng, D)
    if not tied:
        W["lm_head.weight"] = emb(rng, V, D)
    return W


def random_tokens(seed, V, eot_id):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, V - 1, size=(BATCH, SEQ))
    assert (t != eot_id).all()
    return t.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def gpt2_config(V, eot, torch_dtype=None):
    c = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": eot,
        "embd_pdrop": 0.1,
        "eos_token_id": eot,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": N_CTX,
        "n_embd": D_MODEL,
        "n_head": N_HEADS,
        "n_inner": None,
        "n_layer": N_LAYERS,
        "n_positions": N_CTX,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "use_cache": True,
        "vocab_size": V,
    }
    if torch_dtype:
        c["torch_dtype"] = torch_dtype
        c["transformers_version"] = "4.44.0"
    return c


def neox_config(V, eot):
    return {
        "architectures": ["GPTNeoXForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "bos_token_id": eot,
        "classifier_dropout": 0.1,
        "eos_token_id": eot,
        "hidden_act": "gelu",
        "hidden_dropout": 0.0,
        "hidden_size": D_MODEL,
        "initializer_range": 0.02,
        "intermediate_size": 4 * D_MODEL,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": N_CTX,
        "model_type": "gpt_neox",
        "num_attention_heads": N_HEADS,
        "num_hidden_layers": N_LAYERS,
        "rope_scaling": None,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.44.0",
        "use_cache": True,
        "use_parallel_residual": True,
        "vocab_size": V,
    }


def llama_config(V, eot):
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "head_dim": D_MODEL // N_HEADS,
        "hidden_act": "silu",
        "hidden_size": D_MODEL,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_position_embeddings": N_CTX,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": N_HEADS,
        "num_hidden_layers": N_LAYERS,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.44.0",
        "use_cache": True,
        "vocab_size": V,
    }


def qwen2_config(V, eot):
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "hidden_act": "silu",
        "hidden_size": D_MODEL,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_position_embeddings": N_CTX,
        "max_window_layers": N_LAYERS,
        "model_type": "qwen2",
        "num_attention_heads": N_HEADS,
        "num_hidden_layers": N_LAYERS,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": N_CTX,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.44.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": V,
    }


# ---------------------------------------------------------------------------------------------
# Writing fixtures
# ---------------------------------------------------------------------------------------------


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_tokenizer_files(d, tok_json, full):
    write_json(os.path.join(d, "tokenizer.json"), tok_json)
    if full:
        write_json(os.path.join(d, "tokenizer_config.json"), {
            "add_bos_token": False,
            "add_prefix_space": False,
            "bos_token": EOT,
            "clean_up_tokenization_spaces": True,
            "eos_token": EOT,
            "model_max_length": N_CTX,
            "tokenizer_class": "GPT2Tokenizer",
            "unk_token": EOT,
        })
        write_json(os.path.join(d, "special_tokens_map.json"),
                   {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT})


def write_reference(d, tokens, hooks):
    t = {"tokens": ("I32", tokens.astype(np.int32))}
    for k, v in hooks.items():
        t[k] = ("F32", v.astype(np.float32))
    write_safetensors(os.path.join(d, "reference.safetensors"), t)


def fresh_dir(name):
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def generate():
    os.makedirs(OUT, exist_ok=True)
    tok_json, vocab, merges, eot = build_tokenizer()
    V = len(vocab)
    print(f"tokenizer: {len(merges)} merges, vocab_size {V}, <|endoftext|> = {eot}")

    # 1. tiny-gpt2 (F32, unprefixed keys, attn.bias buffers, tied lm_head)
    d = fresh_dir("tiny-gpt2")
    W = gpt2_weights(V)
    cfg = gpt2_config(V, eot)
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": eot, "eos_token_id": eot,
                "transformers_version": "4.44.0"})
    st = {k: ("F32", v) for k, v in W.items()}
    for L in range(N_LAYERS):
        st[f"h.{L}.attn.bias"] = ("F32", causal_buffer())
    write_safetensors(os.path.join(d, "model.safetensors"), st)
    write_tokenizer_files(d, tok_json, full=True)
    write_json(os.path.join(d, "tokenizer_reference.json"),
               [{"text": s, "ids": bpe_encode(s, vocab, merges)} for s in TOKENIZER_TEXTS])
    Wr, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    tokens = random_tokens(101, V, eot)
    hooks, _ = gpt2_forward(Wr, cfg, tokens)
    write_reference(d, tokens, hooks)
    gpt2_resid1 = hooks["blocks.1.hook_resid_pre"]

    # 2. tiny-gpt2-prefixed (same weights, "transformer." prefix, F16, no lm_head, no buffers)
    d = fresh_dir("tiny-gpt2-prefixed")
    cfg16 = gpt2_config(V, eot, torch_dtype="float16")
    write_json(os.path.join(d, "config.json"), cfg16)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {"transformer." + k: ("F16", v) for k, v in W.items()})
    write_tokenizer_files(d, tok_json, full=True)
    Wr, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    tokens = random_tokens(102, V, eot)
    hooks, _ = gpt2_forward(Wr, cfg16, tokens, prefix="transformer.")
    write_reference(d, tokens, hooks)

    # 3. tiny-pythia (gpt_neox, F32, partial rotary, parallel residual, untied, old buffers)
    d = fresh_dir("tiny-pythia")
    cfg = neox_config(V, eot)
    write_json(os.path.join(d, "config.json"), cfg)
    W = neox_weights(V)
    st = {k: ("F32", v) for k, v in W.items()}
    rot = int((D_MODEL // N_HEADS) * cfg["rotary_pct"])
    inv_freq = (1.0 / (cfg["rotary_emb_base"] ** (np.arange(0, rot, 2) / rot))).astype(np.float32)
    for L in range(N_LAYERS):
        p = f"gpt_neox.layers.{L}.attention."
        st[p + "rotary_emb.inv_freq"] = ("F32", inv_freq)
        st[p + "bias"] = ("F32", causal_buffer())
        st[p + "masked_bias"] = ("F32", np.array(-1e9, dtype=np.float32))
    write_safetensors(os.path.join(d, "model.safetensors"), st)
    write_tokenizer_files(d, tok_json, full=False)
    Wr, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    tokens = random_tokens(103, V, eot)
    hooks, _ = neox_forward(Wr, cfg, tokens)
    write_reference(d, tokens, hooks)

    # 4. tiny-llama (F32, GQA, untied)
    d = fresh_dir("tiny-llama")
    cfg = llama_config(V, eot)
    write_json(os.path.join(d, "config.json"), cfg)
    W = llama_weights(V, cfg, seed=4, qkv_bias=False, tied=False)
    write_safetensors(os.path.join(d, "model.safetensors"), {k: ("F32", v) for k, v in W.items()})
    write_tokenizer_files(d, tok_json, full=False)
    Wr, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    tokens = random_tokens(104, V, eot)
    hooks, _ = llama_forward(Wr, cfg, tokens)
    write_reference(d, tokens, hooks)

    # 5. tiny-qwen2-sharded (BF16, q/k/v biases, tied, two shards + index)
    d = fresh_dir("tiny-qwen2-sharded")
    cfg = qwen2_config(V, eot)
    write_json(os.path.join(d, "config.json"), cfg)
    W = llama_weights(V, cfg, seed=5, qkv_bias=True, tied=True)
    shard1 = {k: v for k, v in W.items() if k == "model.embed_tokens.weight" or k.startswith("model.layers.0.")}
    shard2 = {k: v for k, v in W.items() if k not in shard1}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    total = 0
    weight_map = {}
    for name, part in zip(names, [shard1, shard2]):
        total += write_safetensors(os.path.join(d, name), {k: ("BF16", v) for k, v in part.items()})
        for k in part:
            weight_map[k] = name
    write_json(os.path.join(d, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    write_tokenizer_files(d, tok_json, full=False)
    Wr = {}
    for name in names:
        Wr.update(read_safetensors(os.path.join(d, name))[0])
    tokens = random_tokens(105, V, eot)
    hooks, _ = llama_forward(Wr, cfg, tokens)
    write_reference(d, tokens, hooks)

    # 6. tiny-gpt2-sae (SAELens layout, standard ReLU SAE on blocks.1.hook_resid_pre)
    d = fresh_dir("tiny-gpt2-sae")
    write_sae(d, gpt2_resid1.astype(np.float32).astype(np.float64))

    write_readme(V, eot, len(merges))


SAE_CFG = {
    "architecture": "standard",
    "d_in": D_MODEL,
    "d_sae": 2 * D_MODEL,
    "dtype": "float32",
    "device": "cpu",
    "model_name": "tiny-gpt2",
    "hook_name": "blocks.1.hook_resid_pre",
    "hook_layer": 1,
    "hook_head_index": None,
    "activation_fn_str": "relu",
    "activation_fn_kwargs": {},
    "apply_b_dec_to_input": True,
    "finetuning_scaling_factor": False,
    "context_size": N_CTX,
    "prepend_bos": True,
    "normalize_activations": "none",
    "dataset_path": "",
    "model_from_pretrained_kwargs": {"center_writing_weights": False},
    "sae_lens_training_version": "5.9.0",
}


def sae_encode(x, S):  # SAELens StandardSAE: relu((x - b_dec) @ W_enc + b_enc)
    return np.maximum((x - S["b_dec"]) @ S["W_enc"] + S["b_enc"], 0.0)


def write_sae(d, resid):
    rng = np.random.default_rng(6)
    d_in, d_sae = SAE_CFG["d_in"], SAE_CFG["d_sae"]
    W_dec = rng.standard_normal((d_sae, d_in))
    W_dec /= np.linalg.norm(W_dec, axis=1, keepdims=True)
    W_dec = W_dec.astype(np.float32)
    W_enc = (W_dec.T + 0.1 * rng.standard_normal((d_in, d_sae))).astype(np.float32)
    x = resid.reshape(-1, d_in)
    b_dec = x.mean(0).astype(np.float32)
    pre = (x - b_dec.astype(np.float64)) @ W_enc.astype(np.float64)
    # per-latent threshold: latent j fires on roughly a fraction f_j of the reference positions
    f = rng.uniform(0.08, 0.42, size=d_sae)
    thr = np.array([np.quantile(pre[:, j], 1.0 - f[j]) for j in range(d_sae)])
    b_enc = (-thr + 1e-3).astype(np.float32)
    write_json(os.path.join(d, "cfg.json"), SAE_CFG)
    write_safetensors(os.path.join(d, "sae_weights.safetensors"), {
        "W_enc": ("F32", W_enc), "b_enc": ("F32", b_enc), "W_dec": ("F32", W_dec), "b_dec": ("F32", b_dec)})


README = """# Hugging Face-layout test fixtures

Tiny random language models stored exactly like Hugging Face Hub model repositories, each with a
reference file of hidden states. Regenerate everything (deterministic, fixed NumPy seeds) with

    python3 scripts/make_hf_fixtures.py          # writes fixtures/hf/*, then runs the checks
    python3 scripts/make_hf_fixtures.py --check  # re-reads the files and re-runs the checks only

The script needs only Python 3 + NumPy. It writes safetensors by hand and reads every file back
with its own minimal reader. The references come from the script's own float64 NumPy forward,
written from the Hugging Face transformers modeling code (GPT2LMHeadModel, GPTNeoXForCausalLM,
LlamaForCausalLM, Qwen2ForCausalLM); it runs on the weights read back from the stored files and
decoded from their stored dtype (so F16/BF16 rounding is included), then casts results to float32.

All models: d_model 32, 2 layers, 4 heads (head size 8), context 64, vocab_size {V} (the byte-level
BPE tokenizer below; `<|endoftext|>` = {EOT} is the last id and is bos/eos in every config).

| folder | model_type | weights | notes |
| --- | --- | --- | --- |
| `tiny-gpt2/` | gpt2 | `model.safetensors` F32, keys without prefix (`wte.weight`, `h.N.attn.c_attn.weight` [32, 96] Conv1D [in, out], ...) | `gelu_new`, tied lm_head (no `lm_head.weight`), plus the `h.N.attn.bias` causal-mask buffers ([1,1,64,64] F32) like the real gpt2 checkpoint |
| `tiny-gpt2-prefixed/` | gpt2 | same weights as tiny-gpt2, keys prefixed `transformer.`, stored F16 | as `GPT2LMHeadModel.save_pretrained` writes it: no `lm_head.weight`, no mask buffers; its reference uses the F16-rounded weights |
| `tiny-pythia/` | gpt_neox | `model.safetensors` F32 | rotary_pct 0.25 (2 of 8 head dims rotated), exact erf `gelu`, parallel residual, untied `embed_out.weight`, biases everywhere, fused per-head interleaved `query_key_value` ([heads, (q,k,v), head_size] on the output axis); carries old-Pythia buffers a loader must ignore: `attention.rotary_emb.inv_freq`, `attention.bias` (F32 [1,1,64,64]), `attention.masked_bias` (F32 scalar, shape []) |
| `tiny-llama/` | llama | `model.safetensors` F32 | RMSNorm, SwiGLU (intermediate 64), GQA 4 query / 2 kv heads, full-head rotary (theta 1e4, rotate_half layout), no biases, untied `lm_head.weight` |
| `tiny-qwen2-sharded/` | qwen2 | BF16 in two shards + `model.safetensors.index.json` | as tiny-llama but q/k/v biases (no o_proj bias), rope_theta 1e6, tied embeddings (no `lm_head.weight`); shard 1 = embeddings + layer 0, shard 2 = layer 1 + final norm |
| `tiny-gpt2-sae/` | — | SAELens layout: `cfg.json` + `sae_weights.safetensors` (F32 `W_enc` [32,64], `b_enc` [64], `W_dec` [64,32] unit-norm rows, `b_dec` [32]) | standard ReLU SAE on `blocks.1.hook_resid_pre` of tiny-gpt2; b_enc set so 10-40 % of latents fire on the reference residuals |

Every model folder has `config.json`, `tokenizer.json` (the same GPT-2-style byte-level BPE: the
256 byte characters in GPT-2's order, {M} merges learned on a short English paragraph, then
`<|endoftext|>`). `tiny-gpt2/` and `tiny-gpt2-prefixed/` also have `tokenizer_config.json` and
`special_tokens_map.json`; `tiny-gpt2/tokenizer_reference.json` lists a few texts with the ids the
script's own GPT-2 BPE encoder gives them (when generated, these ids were checked by hand to be
identical to what @huggingface/tokenizers 0.2.0 gives for the same tokenizer.json).

## reference.safetensors

- `tokens`: I32 [2, 12], random ids (never `<|endoftext|>`), positions 0..11, no BOS prepended.
- `blocks.L.hook_resid_pre`, `blocks.L.hook_attn_out` (after the output projection and its bias),
  `blocks.L.hook_mlp_out` (after the MLP output projection), `blocks.L.hook_resid_mid` (sequential
  blocks only: absent for tiny-pythia, whose parallel residual is
  resid_post = resid_pre + attn_out + mlp_out), `blocks.L.hook_resid_post`: F32 [2, 12, 32].
- `ln_final`: output of the final LayerNorm / RMSNorm [2, 12, 32]; `logits`: [2, 12, {V}].

TransformerLens hook names with the model as Hugging Face runs it: no weight folding, no centring.
"""


def write_readme(V, eot, n_merges):
    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
        f.write(README.replace("{V}", str(V)).replace("{EOT}", str(eot)).replace("{M}", str(n_merges)))


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

FIXTURES = {
    "tiny-gpt2": ("gpt2", ["model.safetensors"], "", "F32"),
    "tiny-gpt2-prefixed": ("gpt2", ["model.safetensors"], "transformer.", "F16"),
    "tiny-pythia": ("gpt_neox", ["model.safetensors"], "", "F32"),
    "tiny-llama": ("llama", ["model.safetensors"], "", "F32"),
    "tiny-qwen2-sharded": ("qwen2", ["model-00001-of-00002.safetensors",
                                     "model-00002-of-00002.safetensors"], "", "BF16"),
}


def check_close(name, a, b, tol):
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    ok = err <= tol * max(1.0, scale)
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: max|diff| {err:.3g} (scale {scale:.3g})")
    if not ok:
        raise SystemExit(f"check failed: {name}")


def expect(name, cond):
    print(f"  [{'ok' if cond else 'FAIL'}] {name}")
    if not cond:
        raise SystemExit(f"check failed: {name}")


def run_forward(kind, W, cfg, tokens, prefix, attention=causal_attention):
    if kind == "gpt2":
        return gpt2_forward(W, cfg, tokens, prefix)
    if kind == "gpt_neox":
        return neox_forward(W, cfg, tokens)
    return llama_forward(W, cfg, tokens, attention)


def check():
    print("checks:")
    # writer round trip on every dtype, scalar and empty-ish shapes
    rng = np.random.default_rng(0)
    tmp = os.path.join(OUT, ".roundtrip.safetensors")
    arrs = {"a": rng.standard_normal((3, 5)).astype(np.float32), "s": np.array(2.5, np.float32),
            "i": rng.integers(-9, 9, size=(7,)).astype(np.int32)}
    spec = {"f32": ("F32", arrs["a"]), "f16": ("F16", arrs["a"]), "bf16": ("BF16", arrs["a"]),
            "scalar": ("F32", arrs["s"]), "ints": ("I32", arrs["i"]), "odd": ("F16", arrs["a"][0, :3])}
    write_safetensors(tmp, spec)
    back, dts, meta = read_safetensors(tmp)
    os.remove(tmp)
    expect("round trip metadata", meta == {"format": "pt"})
    for k, (dt, a) in spec.items():
        want = a.astype(np.int64) if dt == "I32" else decode_like_storage(a, dt)
        expect(f"round trip {k} ({dt}) shape {list(a.shape)}", dts[k] == dt and back[k].shape == a.shape
               and np.array_equal(back[k], want))
    # bf16 rounding: ties to even, and truncation vs rounding
    v = np.array([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -8 + 2 ** -20, -3.0], np.float32)
    got = decode_like_storage(v, "BF16")
    expect("bf16 round-to-nearest-even", list(got) == [1.0, 1.0 + 4 * 2 ** -8, 1.0 + 2 ** -7, -3.0])

    tok = json.load(open(os.path.join(OUT, "tiny-gpt2", "tokenizer.json"), encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    merges = [tuple(m.split(" ")) for m in tok["model"]["merges"]]
    V = len(vocab)
    eot = vocab[EOT]
    expect("tokenizer: 256 byte chars first, in GPT-2 order",
           [vocab[c] for _, c in BYTE_PAIRS] == list(range(256)) and vocab["!"] == 0 and vocab["\u0100"] == 188)
    expect("tokenizer: every merge result in vocab", all(a + b in vocab for a, b in merges))
    expect("tokenizer: <|endoftext|> is the last id", eot == V - 1 and tok["added_tokens"][0]["id"] == eot)
    for item in json.load(open(os.path.join(OUT, "tiny-gpt2", "tokenizer_reference.json"))):
        ids = bpe_encode(item["text"], vocab, merges)
        expect(f"tokenizer reference {item['text'][:24]!r}: {len(ids)} ids, decodes back",
               ids == item["ids"] and bpe_decode(ids, vocab) == item["text"])

    refs = {}
    for name, (kind, files, prefix, sdt) in FIXTURES.items():
        d = os.path.join(OUT, name)
        print(f" {name}:")
        cfg = json.load(open(os.path.join(d, "config.json")))
        expect("config vocab_size == tokenizer", cfg["vocab_size"] == V and
               json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8")) == tok)
        W, dts = {}, {}
        for f in files:
            w, dt, meta = read_safetensors(os.path.join(d, f))
            expect(f"{f}: {len(w)} tensors, metadata format pt", meta == {"format": "pt"})
            W.update(w)
            dts.update(dt)
        expect(f"all weights stored as {sdt}",
               all(v == sdt for v in dts.values()))
        if len(files) > 1:
            idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
            sizes = sum(int(np.prod(W[k].shape)) * DTYPE_SIZE[dts[k]] for k in W)
            expect("index: weight_map covers every tensor, total_size matches",
                   set(idx["weight_map"]) == set(W) and idx["metadata"]["total_size"] == sizes
                   and all(k in read_safetensors(os.path.join(d, f))[0] for k, f in idx["weight_map"].items()))
        R, rdt, _ = read_safetensors(os.path.join(d, "reference.safetensors"))
        tokens = R["tokens"]
        expect("reference dtypes (tokens I32, rest F32)", rdt["tokens"] == "I32" and
               all(v == "F32" for k, v in rdt.items() if k != "tokens"))
        expect("tokens [2,12] < vocab, no special", tokens.shape == (2, 12) and tokens.max() < V - 1
               and tokens.min() >= 0)
        hooks, patterns = run_forward(kind, W, cfg, tokens, prefix)
        expect("reference has exactly the expected keys", set(R) == set(hooks) | {"tokens"})
        for k in hooks:
            check_close(f"recomputed {k}", hooks[k].astype(np.float32).astype(np.float64), R[k], 0)
        D = cfg.get("n_embd") or cfg["hidden_size"]
        nL = cfg.get("n_layer") or cfg["num_hidden_layers"]
        for k, v in R.items():
            if k.startswith("blocks."):
                assert v.shape == (2, 12, D), k
        expect("logits shape [2,12,V], ln_final [2,12,D]",
               R["logits"].shape == (2, 12, V) and R["ln_final"].shape == (2, 12, D))
        lg = hooks["logits"]
        sm = np.exp(lg - lg.max(-1, keepdims=True))
        sm /= sm.sum(-1, keepdims=True)
        expect("softmax(logits) rows sum to 1", np.allclose(sm.sum(-1), 1.0, atol=1e-12))
        for L in range(nL - 1):
            check_close(f"resid_post[{L}] == resid_pre[{L + 1}]", hooks[f"blocks.{L}.hook_resid_post"],
                        hooks[f"blocks.{L + 1}.hook_resid_pre"], 0)
        for L in range(nL):
            pre, a, m, post = (hooks[f"blocks.{L}.hook_{h}"] for h in ("resid_pre", "attn_out", "mlp_out", "resid_post"))
            if kind == "gpt_neox":
                expect(f"L{L}: no resid_mid (parallel residual)", f"blocks.{L}.hook_resid_mid" not in hooks)
                check_close(f"L{L}: resid_post == resid_pre + attn_out + mlp_out", post, pre + a + m, 1e-12)
            else:
                mid = hooks[f"blocks.{L}.hook_resid_mid"]
                check_close(f"L{L}: resid_mid == resid_pre + attn_out", mid, pre + a, 1e-12)
                check_close(f"L{L}: resid_post == resid_mid + mlp_out", post, mid + m, 1e-12)
        # causality: changing the last token leaves earlier positions untouched
        t2 = tokens.copy()
        t2[:, -1] = (t2[:, -1] + 1) % (V - 1)
        h2, _ = run_forward(kind, W, cfg, t2, prefix)
        check_close("causal: positions < last unchanged when last token changes",
                    h2["logits"][:, :-1], hooks["logits"][:, :-1], 0)
        expect("causal: last position does change",
               np.abs(h2["logits"][:, -1] - hooks["logits"][:, -1]).max() > 1e-3)
        # magnitudes / attention that is neither uniform nor one-hot
        stats = " ".join(f"{k.split('.')[-1] if k.startswith('blocks.1') else k}={np.std(v):.2f}"
                         for k, v in hooks.items() if k.startswith("blocks.1") or k in ("ln_final", "logits"))
        print(f"  std (layer 1 + final): {stats}")
        ent = []
        for pat in patterns:
            T = pat.shape[-1]
            last = pat[..., -1, :]
            ent.append(float(-(last * np.log(last + 1e-300)).sum(-1).mean() / math.log(T)))
        print(f"  attention entropy of last query / log(T), per layer: {[round(e, 2) for e in ent]}")
        expect("attention pattern non-trivial", all(0.2 < e < 0.97 for e in ent))
        expect("hooks O(1)", all(0.05 < np.std(v) < 20 for k, v in hooks.items() if "blocks" in k))
        refs[name] = (kind, W, cfg, tokens, prefix, hooks)

    # GQA: the index-mapped attention against an explicit repeat_kv + per-head loop version
    for name in ("tiny-llama", "tiny-qwen2-sharded"):
        kind, W, cfg, tokens, prefix, hooks = refs[name]
        h2, _ = llama_forward(W, cfg, tokens, attention=causal_attention_repeat)
        check_close(f"{name}: GQA forward == explicit repeat_kv forward", h2["logits"], hooks["logits"], 1e-12)

    # Rotary: rotate_half layout == complex rotation of the (i, i + d/2) pairs, and relative positions
    x = np.random.default_rng(9).standard_normal((1, 1, 12, 8))
    cos, sin = rope_cos_sin(8, 10000.0, 12)
    r = apply_rope(x, cos, sin)
    inv = 1.0 / 10000.0 ** (np.arange(4) * 2 / 8)
    c = (x[..., :4] + 1j * x[..., 4:]) * np.exp(1j * np.arange(12)[:, None] * inv)
    check_close("rope == complex rotation of (i, i+d/2) pairs", r, np.concatenate([c.real, c.imag], -1), 1e-12)
    y = np.random.default_rng(10).standard_normal(8)
    qk = lambda m, n: apply_rope(np.broadcast_to(y, (1, 1, 12, 8)), cos, sin)[0, 0, m] @ \
        apply_rope(np.broadcast_to(x[0, 0, 0], (1, 1, 12, 8)), cos, sin)[0, 0, n]  # noqa: E731
    check_close("rope: <q_m, k_n> depends only on m - n", np.array(qk(7, 3)), np.array(qk(5, 1)), 1e-12)

    # Partial rotary on pythia: dims rot.. of q/k must be position independent
    kind, W, cfg, tokens, prefix, hooks = refs["tiny-pythia"]
    expect("pythia: rotary dims = 2 of head size 8",
           int((cfg["hidden_size"] // cfg["num_attention_heads"]) * cfg["rotary_pct"]) == 2)
    expect("pythia: extra buffers present (loader must ignore)",
           W["gpt_neox.layers.0.attention.masked_bias"].shape == () and
           W["gpt_neox.layers.0.attention.bias"].shape == (1, 1, 64, 64) and
           "gpt_neox.layers.0.attention.rotary_emb.inv_freq" in W)

    # F16 gpt2 is the F32 one rounded
    a, b = refs["tiny-gpt2"][1], refs["tiny-gpt2-prefixed"][1]
    expect("prefixed: same keys with 'transformer.' (minus mask buffers), no lm_head",
           {"transformer." + k for k in a if not k.endswith(".attn.bias")} == set(b))
    expect("prefixed: weights == F16 rounding of tiny-gpt2's",
           all(np.array_equal(b["transformer." + k], decode_like_storage(v, "F16"))
               for k, v in a.items() if not k.endswith(".attn.bias")))
    Wf = {k[len("transformer."):]: v for k, v in b.items()}
    tok_g = refs["tiny-gpt2"][3]
    h32, _ = gpt2_forward(a, refs["tiny-gpt2"][2], tok_g)
    h16, _ = gpt2_forward(Wf, refs["tiny-gpt2"][2], tok_g)
    dlog = np.abs(h32["logits"] - h16["logits"]).max()
    expect(f"F16 rounding changes logits a little ({dlog:.2e})", 1e-6 < dlog < 5e-2)
    qk_ = refs["tiny-qwen2-sharded"]
    expect("qwen2: q/k/v biases, no o_proj bias, no lm_head",
           "model.layers.0.self_attn.q_proj.bias" in qk_[1] and
           "model.layers.0.self_attn.o_proj.bias" not in qk_[1] and "lm_head.weight" not in qk_[1])

    # SAE
    d = os.path.join(OUT, "tiny-gpt2-sae")
    S, sdt, _ = read_safetensors(os.path.join(d, "sae_weights.safetensors"))
    scfg = json.load(open(os.path.join(d, "cfg.json")))
    print(" tiny-gpt2-sae:")
    expect("SAE shapes and dtypes", S["W_enc"].shape == (32, 64) and S["b_enc"].shape == (64,) and
           S["W_dec"].shape == (64, 32) and S["b_dec"].shape == (32,) and set(sdt.values()) == {"F32"}
           and scfg["d_in"] == 32 and scfg["d_sae"] == 64)
    expect("W_dec rows unit norm", np.allclose(np.linalg.norm(S["W_dec"], axis=1), 1.0, atol=1e-6))
    Rg, _, _ = read_safetensors(os.path.join(OUT, "tiny-gpt2", "reference.safetensors"))
    acts = sae_encode(Rg[scfg["hook_name"]].reshape(-1, 32), S)
    frac = float((acts > 0).mean())
    dead = int(((acts > 0).sum(0) == 0).sum())
    print(f"  fraction of latents firing on the reference residuals: {frac:.3f}; never-firing latents: {dead}")
    expect("10-40 % of latents fire", 0.10 <= frac <= 0.40)


def main():
    if "--check" not in sys.argv[1:]:
        generate()
    check()
    total = 0
    for dp, _, fs in os.walk(OUT):
        for f in fs:
            total += os.path.getsize(os.path.join(dp, f))
    print(f"fixtures/hf: {total} bytes ({total / 1024:.0f} KiB)")
    if total > 1.5e6:
        raise SystemExit("fixtures/hf is over the 1.5 MB budget")


if __name__ == "__main__":
    main()
