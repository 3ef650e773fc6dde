#!/usr/bin/env python3
"""Dump residual-stream activations of a language model for SAE Workbench.

Run this next to a model (a GPU helps, a CPU works for small models), then drop the output
folder's files on the workbench page or pass them to `npx sae-workbench train --data ...`.

Usage
-----
    python scripts/dump_activations.py --model gpt2 --layers 6 --text corpus.txt --out acts/
    python scripts/dump_activations.py --model gpt2 --layers 4 6 8 \\
        --dataset NeelNanda/pile-10k --max-tokens 100000 --ctx 128 --out acts/
    python scripts/dump_activations.py --model gpt2 --layers 6 --text corpus.txt --out acts/ \\
        --backend transformerlens --dtype float16 --keep-bos
    python scripts/dump_activations.py --self-test --out /tmp/acts   # no torch needed

What it writes (into --out)
---------------------------
    activations.npy  float32 [N, d] for one layer, [L, N, d] for several (layers ascending)
    tokens.npy       int32 [N]   token id of each row
    doc_ids.npy      int32 [N]   index of the source document of each row (0, 0, ..., 1, 1, ...)
    positions.npy    int32 [N]   position of the row's token in the model's context (BOS = 0)
    vocab.json       JSON array of piece strings, index = token id (readable text: GPT-2 byte-level
                     pieces are decoded, SentencePiece's U+2581 is kept and shown as a space)

Row n of every file is the same token. The activation of layer l is the residual stream
*entering* block l ("resid_pre"): `hidden_states[l]` of a Hugging Face model run with
`output_hidden_states=True`, or `blocks.{l}.hook_resid_pre` of a TransformerLens model (loaded with
`center_writing_weights=False`, SAELens's default, so both backends give the same vectors).
Layer 0 is the embeddings; valid layers are 0 .. n_layers - 1.

How text becomes rows: each document (a blank-line-separated block of --text, or one record of
--dataset) is tokenised without special tokens and cut into contexts of at most --ctx tokens; every
context starts with the tokenizer's BOS token when it has one (as SAELens prepends BOS). BOS rows are
dropped by default (their norm is an outlier that distorts SAE training); --keep-bos keeps them.
Tokenising happens first, so the number of rows N (at most --max-tokens) is known before the model
runs; activations are then streamed into a memory-mapped .npy (numpy.lib.format.open_memmap), so tens
of GB never sit in RAM. The file is written as activations.npy.partial and renamed when complete.

Nothing heavy is imported at module level: `--help` and `--self-test` need only Python (and numpy
for --self-test); torch / transformers / transformer_lens / datasets are imported inside main.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

DEFAULT_CTX = 128
DEFAULT_MAX_TOKENS = 100_000
SELF_TEST_CTX = 16
SELF_TEST_D = 16
SELF_TEST_LAYERS = 12


# ---- command line ---------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="dump_activations.py",
        description="Save residual-stream activations (resid_pre) of a language model, with token ids, "
        "document ids, positions and the vocabulary, in the formats SAE Workbench reads.",
        epilog="Example: python scripts/dump_activations.py --model gpt2 --layers 6 --text corpus.txt --out acts/",
    )
    p.add_argument("--model", help="Hugging Face model id or local path (TransformerLens name with --backend transformerlens)")
    p.add_argument("--layers", type=int, nargs="+", action="extend", metavar="L",
                   help="layer(s) whose resid_pre to save: one gives [N, d], several give [L, N, d] (ascending)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", metavar="FILE", help="UTF-8 text file; documents are separated by blank lines (see --doc-sep)")
    src.add_argument("--dataset", metavar="NAME", help="Hugging Face dataset name or path, streamed (needs the `datasets` package)")
    p.add_argument("--dataset-config", default=None, help="dataset configuration name (load_dataset's `name`)")
    p.add_argument("--split", default="train", help="dataset split (default: train)")
    p.add_argument("--text-column", default="text", help="dataset column holding the text (default: text; pre-tokenised `input_ids`/`tokens` columns are used as they are)")
    p.add_argument("--doc-sep", choices=["blank", "line", "none"], default="blank",
                   help="how --text splits into documents: blank lines, every line, or the whole file as one document (default: blank)")
    p.add_argument("--max-tokens", type=int, default=None, help=f"rows to save, at most (default {DEFAULT_MAX_TOKENS:,})")
    p.add_argument("--ctx", type=int, default=None, help=f"context length in tokens, BOS included (default {DEFAULT_CTX})")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--backend", choices=["transformers", "transformerlens"], default="transformers",
                   help="hidden_states of a Hugging Face model, or hook_resid_pre of a TransformerLens model (default: transformers)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="dtype the model runs in (default: float32; activations are saved as --save-dtype)")
    p.add_argument("--save-dtype", choices=["float32", "float16"], default="float32",
                   help="dtype of activations.npy (default: float32; float16 halves the file, the app reads both)")
    p.add_argument("--keep-bos", action="store_true", help="keep the BOS rows (dropped by default: their norm is an outlier)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda, then mps, then cpu), cuda, cuda:1, cpu, ...")
    p.add_argument("--batch-size", type=int, default=8, help="contexts per forward pass (default: 8)")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    p.add_argument("--self-test", action="store_true",
                   help="without torch: run the pipeline on a synthetic tokenizer and model, write tiny files in the "
                        f"same formats to --out (d={SELF_TEST_D}, ctx {SELF_TEST_CTX} unless --ctx), check them and exit")
    args = p.parse_args(argv)

    if args.layers:
        if any(l < 0 for l in args.layers):
            p.error(f"--layers must be ≥ 0 (got {args.layers}).")
        if len(set(args.layers)) != len(args.layers):
            p.error(f"--layers lists a layer twice ({args.layers}); give each layer once.")
        args.layers = sorted(args.layers)
    if args.self_test:
        args.layers = args.layers or [6]
        args.ctx = args.ctx or SELF_TEST_CTX
        args.max_tokens = args.max_tokens or 10_000
    else:
        missing = [flag for flag, v in (("--model", args.model), ("--layers", args.layers)) if not v]
        if not (args.text or args.dataset):
            missing.append("--text or --dataset")
        if missing:
            p.error(f"missing {', '.join(missing)} (or use --self-test).")
        if args.text and not os.path.isfile(args.text):
            p.error(f"--text {args.text}: no such file.")
        args.ctx = args.ctx or DEFAULT_CTX
        args.max_tokens = args.max_tokens or DEFAULT_MAX_TOKENS
    if args.ctx < 2:
        p.error(f"--ctx must be at least 2 (got {args.ctx}).")
    if args.max_tokens < 1:
        p.error(f"--max-tokens must be positive (got {args.max_tokens}).")
    if args.batch_size < 1:
        p.error(f"--batch-size must be positive (got {args.batch_size}).")
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- documents --------------------------------------------------------------------------------


def text_documents(path: str, sep: str) -> Iterator[str]:
    """Documents of a text file, read line by line (the file is never held whole)."""
    with open(path, encoding="utf-8") as f:
        if sep == "none":
            yield f.read()
            return
        block: List[str] = []
        for line in f:
            if sep == "line":
                if line.strip():
                    yield line.rstrip("\n")
                continue
            if line.strip():
                block.append(line)
            elif block:
                yield "".join(block).rstrip("\n")
                block = []
        if block:
            yield "".join(block).rstrip("\n")


def dataset_documents(args: argparse.Namespace) -> Iterator[object]:
    """Records of a Hugging Face dataset, streamed: a text string, or a list of token ids."""
    try:
        from datasets import load_dataset  # type: ignore
    except ImportError:
        sys.exit("--dataset needs the `datasets` package: pip install datasets (or use --text FILE).")
    ds = load_dataset(args.dataset, name=args.dataset_config, split=args.split, streaming=True)
    for record in ds:
        for key in ("input_ids", "tokens"):
            if isinstance(record.get(key), list):
                yield [int(t) for t in record[key]]
                break
        else:
            if args.text_column in record:
                yield str(record[args.text_column])
            else:
                columns = ", ".join(record.keys())
                sys.exit(f"dataset {args.dataset} has no column {args.text_column!r} (it has {columns}); pass --text-column.")


# ---- tokens → contexts ------------------------------------------------------------------------


class Plan:
    """The contexts to run and, for every saved row, its token, document and position."""

    def __init__(self, contexts, tokens, doc_ids, positions, documents: int, start: int):
        self.contexts = contexts  # list of int32 arrays, each a model input (BOS first when there is one)
        self.tokens = tokens
        self.doc_ids = doc_ids
        self.positions = positions
        self.documents = documents
        self.start = start  # first saved position of every context (1 when BOS rows are dropped)

    @property
    def rows(self) -> int:
        return int(self.tokens.shape[0])


def plan_contexts(docs: Iterable[object], encode: Callable[[str], List[int]], bos_id: Optional[int],
                  ctx: int, max_rows: int, keep_bos: bool) -> Plan:
    """Cut documents into contexts of at most `ctx` tokens until `max_rows` rows would be saved."""
    import numpy as np

    prefix = [bos_id] if bos_id is not None else []
    start = 0 if (keep_bos or bos_id is None) else 1
    body = ctx - len(prefix)
    contexts, tok_parts, doc_parts, pos_parts = [], [], [], []
    rows = 0
    documents = 0
    for doc in docs:
        ids = doc if isinstance(doc, list) else encode(doc)
        if bos_id is not None and ids and ids[0] == bos_id:
            ids = ids[1:]  # pre-tokenised data that already starts with BOS
        if not ids:
            continue
        used = False
        for i in range(0, len(ids), body):
            context = np.asarray(prefix + ids[i:i + body], dtype=np.int64)
            saved = context[start:]
            if rows + len(saved) > max_rows:
                saved = saved[: max_rows - rows]
                context = context[: start + len(saved)]
            if len(saved) == 0:
                break
            contexts.append(context)
            tok_parts.append(saved.astype(np.int32))
            doc_parts.append(np.full(len(saved), documents, dtype=np.int32))
            pos_parts.append(np.arange(start, start + len(saved), dtype=np.int32))
            rows += len(saved)
            used = True
            if rows >= max_rows:
                break
        if used:
            documents += 1
        if rows >= max_rows:
            break
    if rows == 0:
        sys.exit("no tokens to save: the input is empty (or every document is only a BOS token).")
    cat = lambda parts: np.concatenate(parts).astype(np.int32)
    return Plan(contexts, cat(tok_parts), cat(doc_parts), cat(pos_parts), documents, start)


# ---- writing ----------------------------------------------------------------------------------


class ActivationWriter:
    """activations.npy written in place through a memory map: [N, d] or [L, N, d]."""

    def __init__(self, out_dir: str, n_layers: int, rows: int, d: int, dtype: str):
        import numpy as np

        self.final = os.path.join(out_dir, "activations.npy")
        self.path = self.final + ".partial"
        shape = (rows, d) if n_layers == 1 else (n_layers, rows, d)
        self.mm = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.dtype(dtype), shape=shape)
        self.n_layers, self.rows, self.d = n_layers, rows, d
        self.cursor = 0
        self.last_flush = time.time()

    def write(self, per_layer) -> None:
        """per_layer: [L, n, d] float array of the next n rows."""
        n = per_layer.shape[1]
        if self.cursor + n > self.rows:
            raise RuntimeError(f"internal error: {self.cursor + n} rows written, {self.rows} planned")
        if self.n_layers == 1:
            self.mm[self.cursor:self.cursor + n] = per_layer[0]
        else:
            self.mm[:, self.cursor:self.cursor + n] = per_layer
        self.cursor += n
        if time.time() - self.last_flush > 30:
            self.mm.flush()
            self.last_flush = time.time()

    def close(self) -> None:
        if self.cursor != self.rows:
            raise RuntimeError(f"internal error: {self.cursor} rows written, {self.rows} planned")
        self.mm.flush()
        del self.mm
        os.replace(self.path, self.final)


def check_out_dir(out: str, overwrite: bool) -> None:
    os.makedirs(out, exist_ok=True)
    existing = [f for f in OUTPUT_FILES if os.path.exists(os.path.join(out, f))]
    if existing and not overwrite:
        sys.exit(f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them or choose another --out.")


OUTPUT_FILES = ("activations.npy", "tokens.npy", "doc_ids.npy", "positions.npy", "vocab.json")


def save_companions(out: str, plan: Plan, vocab: List[str]) -> None:
    import numpy as np

    np.save(os.path.join(out, "tokens.npy"), plan.tokens)
    np.save(os.path.join(out, "doc_ids.npy"), plan.doc_ids)
    np.save(os.path.join(out, "positions.npy"), plan.positions)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)


def run_contexts(plan: Plan, forward: Callable, batch_size: int, writer: ActivationWriter, pad_id: int) -> None:
    """Run the model over the planned contexts in order and stream the kept rows to the writer.

    `forward(ids [B, T] int64 numpy, mask [B, T] bool numpy)` returns [L, B, T, d] numpy (float).
    Contexts are right-padded; causal attention means padding never changes the real positions.
    """
    import numpy as np

    t0 = time.time()
    last = t0
    n = len(plan.contexts)
    for b in range(0, n, batch_size):
        batch = plan.contexts[b:b + batch_size]
        T = max(len(c) for c in batch)
        ids = np.full((len(batch), T), pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), T), dtype=bool)
        for i, c in enumerate(batch):
            ids[i, :len(c)] = c
            mask[i, :len(c)] = True
        hidden = forward(ids, mask)  # [L, B, T, d]
        keep = mask.copy()
        keep[:, :plan.start] = False
        writer.write(hidden[:, keep])  # rows in (context, position) order
        now = time.time()
        if now - last > 10 or b + batch_size >= n:
            done = writer.cursor
            rate = done / max(now - t0, 1e-9)
            eta = (writer.rows - done) / max(rate, 1e-9)
            log(f"  {done:,}/{writer.rows:,} rows  {rate:,.0f} tokens/s  ETA {eta:,.0f} s")
            last = now


# ---- vocabulary -------------------------------------------------------------------------------


def _byte_decoder() -> dict:
    """Inverse of GPT-2's bytes_to_unicode (byte-level BPE pieces → bytes)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = {}
    shifted = 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + shifted)] = b
            shifted += 1
    return chars


def _is_byte_level(tokenizer) -> bool:
    if hasattr(tokenizer, "byte_decoder"):  # slow GPT-2-style tokenizers
        return True
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    try:
        spec = json.loads(backend.to_str())
    except Exception:
        return False
    return '"ByteLevel"' in json.dumps(spec.get("decoder")) or '"ByteLevel"' in json.dumps(spec.get("pre_tokenizer"))


def vocab_pieces(tokenizer) -> List[str]:
    """Readable text of every token id: byte-level pieces decoded, ▁ kept (the app shows it as a space)."""
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    byte_level = _is_byte_level(tokenizer)
    decoder = _byte_decoder() if byte_level else {}
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    out = []
    for i, piece in enumerate(pieces):
        if piece is None:
            out.append(f"<id {i}>")
            continue
        if byte_level and piece not in special and all(ch in decoder for ch in piece):
            piece = bytes(decoder[ch] for ch in piece).decode("utf-8", errors="replace")
        else:
            m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)  # SentencePiece byte fallback
            if m and int(m.group(1), 16) < 0x80:
                piece = chr(int(m.group(1), 16))
        out.append(piece)
    return out


# ---- models -----------------------------------------------------------------------------------


def pick_device(torch, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def load_transformers(args, torch):
    from transformers import AutoModel, AutoTokenizer  # type: ignore

    device = pick_device(torch, args.device)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, torch_dtype=getattr(torch, args.dtype))
    model.to(device).eval()
    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or getattr(model.config, "n_layer", 0))
    d = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0))

    def forward(ids, mask):
        with torch.no_grad():
            out = model(input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device).long(),
                        output_hidden_states=True)
            hs = torch.stack([out.hidden_states[l] for l in args.layers])  # [L, B, T, d]
            return hs.float().cpu().numpy()

    return tokenizer, forward, n_layers, d, device


def load_transformerlens(args, torch):
    from transformer_lens import HookedTransformer  # type: ignore

    device = pick_device(torch, args.device)
    # center_writing_weights=False (SAELens's default) keeps the residual stream as the model computes it.
    model = HookedTransformer.from_pretrained(args.model, device=device, dtype=getattr(torch, args.dtype),
                                              center_writing_weights=False)
    model.eval()
    names = [f"blocks.{l}.hook_resid_pre" for l in args.layers]

    def forward(ids, mask):  # noqa: ARG001 (causal: right padding cannot reach real positions)
        with torch.no_grad():
            _, cache = model.run_with_cache(torch.from_numpy(ids).to(device), names_filter=lambda n: n in names,
                                            stop_at_layer=max(args.layers) + 1)
            return torch.stack([cache[n] for n in names]).float().cpu().numpy()

    return model.tokenizer, forward, int(model.cfg.n_layers), int(model.cfg.d_model), device


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        return self_test(args)
    try:
        import numpy as np  # noqa: F401
        import torch  # type: ignore
    except ImportError as e:
        sys.exit(f"{e.name} is not installed: pip install torch numpy transformers (or transformer_lens); "
                 "--self-test runs without them.")
    check_out_dir(args.out, args.overwrite)
    log(f"loading {args.model} ({args.backend}, {args.dtype}) ...")
    load = load_transformers if args.backend == "transformers" else load_transformerlens
    tokenizer, forward, n_layers, d, device = load(args, torch)
    bad = [l for l in args.layers if l >= n_layers]
    if bad:
        sys.exit(f"{args.model} has {n_layers} layers, so resid_pre layers are 0..{n_layers - 1}; --layers {bad} is out of range.")

    bos_id = tokenizer.bos_token_id
    if bos_id is None:
        log("note: the tokenizer has no BOS token; contexts start with the first text token and nothing is dropped.")
    docs = text_documents(args.text, args.doc_sep) if args.text else dataset_documents(args)
    encode = lambda s: tokenizer.encode(s, add_special_tokens=False)
    log(f"tokenising (at most {args.max_tokens:,} rows, contexts of {args.ctx}) ...")
    plan = plan_contexts(docs, encode, bos_id, args.ctx, args.max_tokens, args.keep_bos)
    log(f"{plan.rows:,} rows from {plan.documents:,} documents in {len(plan.contexts):,} contexts; "
        f"running on {device}, layers {args.layers} of {n_layers}, d = {d}")

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    writer = ActivationWriter(args.out, len(args.layers), plan.rows, d, args.save_dtype)
    run_contexts(plan, forward, args.batch_size, writer, pad_id)
    writer.close()
    save_companions(args.out, plan, vocab_pieces(tokenizer))
    summarize(args, plan, d)
    return 0


def summarize(args, plan: Plan, d: int) -> None:
    shape = f"[{plan.rows}, {d}]" if len(args.layers) == 1 else f"[{len(args.layers)}, {plan.rows}, {d}]"
    hooks = ", ".join(f"blocks.{l}.hook_resid_pre" for l in args.layers)
    log(f"wrote {args.out}/activations.npy {args.save_dtype} {shape} ({hooks}), tokens.npy, doc_ids.npy, "
        f"positions.npy, vocab.json; BOS rows {'kept' if args.keep_bos else 'dropped'}.")


# ---- self-test ---------------------------------------------------------------------------------

SELF_TEST_WORDS = ["<bos>", " the", " cat", " sat", " on", " mat", ".", " a", " dog", " ran", " home", " and",
                   " slept", " The", " sun", " rose", " over", " hills", "\n", " café"]
SELF_TEST_DOCS = [
    " The cat sat on the mat. The dog ran home.",
    " a dog sat.",
    " The sun rose over the hills and the cat slept on the mat. The dog ran home and slept. a cat sat on a dog.",
    "",
    " the café",
    " The cat ran over the hills and the dog ran home. The sun rose.",
]


def self_test(args) -> int:
    """The real pipeline (plan, batches, memmap writer, companions) on a synthetic tokenizer and model."""
    try:
        import numpy as np
    except ImportError:
        sys.exit("--self-test needs numpy: pip install numpy")
    check_out_dir(args.out, True)
    d = SELF_TEST_D
    bad = [l for l in args.layers if l >= SELF_TEST_LAYERS]
    if bad:
        sys.exit(f"the self-test model has {SELF_TEST_LAYERS} layers; --layers {bad} is out of range.")
    index = {w: i for i, w in enumerate(SELF_TEST_WORDS)}

    def encode(text: str) -> List[int]:
        return [index[w] for w in re.findall(r" ?[A-Za-zé]+|[.\n]", text)]

    rng = np.random.default_rng(0)
    embed = rng.standard_normal((len(SELF_TEST_WORDS), d)).astype(np.float32)
    embed[0] *= 30  # BOS: the norm outlier real models show

    def reference(token: int, position: int, layer: int):
        return embed[token] * (1 + 0.1 * layer) + 0.01 * position + 0.001 * layer

    def forward(ids, mask):  # a "model": every layer a fixed function of token, position and layer
        out = np.zeros((len(args.layers), ids.shape[0], ids.shape[1], d), dtype=np.float32)
        for li, layer in enumerate(args.layers):
            for b in range(ids.shape[0]):
                for t in range(ids.shape[1]):
                    out[li, b, t] = reference(int(ids[b, t]), t, layer) if mask[b, t] else np.nan
        return out

    plan = plan_contexts(iter(SELF_TEST_DOCS), encode, 0, args.ctx, args.max_tokens, args.keep_bos)
    writer = ActivationWriter(args.out, len(args.layers), plan.rows, d, args.save_dtype)
    run_contexts(plan, forward, 2, writer, pad_id=1)
    writer.close()
    save_companions(args.out, plan, list(SELF_TEST_WORDS))

    # Read everything back and check it.
    acts = np.load(os.path.join(args.out, "activations.npy"), mmap_mode="r")
    tokens = np.load(os.path.join(args.out, "tokens.npy"))
    doc_ids = np.load(os.path.join(args.out, "doc_ids.npy"))
    positions = np.load(os.path.join(args.out, "positions.npy"))
    with open(os.path.join(args.out, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    N = plan.rows
    L = len(args.layers)
    problems = []
    want_shape = (N, d) if L == 1 else (L, N, d)
    if acts.shape != want_shape:
        problems.append(f"activations shape {acts.shape}, expected {want_shape}")
    if acts.dtype != np.dtype(args.save_dtype):
        problems.append(f"activations dtype {acts.dtype}")
    for name, arr in (("tokens", tokens), ("doc_ids", doc_ids), ("positions", positions)):
        if arr.dtype != np.int32 or arr.shape != (N,):
            problems.append(f"{name} is {arr.dtype} {arr.shape}, expected int32 ({N},)")
    if not all(isinstance(v, str) for v in vocab) or len(vocab) != len(SELF_TEST_WORDS):
        problems.append("vocab.json is not the array of pieces")
    if np.any(np.diff(doc_ids) < 0):
        problems.append("doc_ids decrease")
    if not args.keep_bos and np.any(positions == 0):
        problems.append("a BOS row was kept")
    if args.keep_bos and not np.any(tokens == 0):
        problems.append("--keep-bos kept no BOS row")
    if positions.max() >= args.ctx:
        problems.append(f"position {positions.max()} ≥ ctx {args.ctx}")
    rows = acts if L > 1 else acts[None]
    tol = 1e-6 if args.save_dtype == "float32" else 5e-2
    for li, layer in enumerate(args.layers):
        for n in range(N):
            want = reference(int(tokens[n]), int(positions[n]), layer)
            if not np.allclose(np.asarray(rows[li, n], dtype=np.float32), want, rtol=tol, atol=tol):
                problems.append(f"row {n} of layer {layer} does not match the synthetic model")
                break
    if problems:
        for msg in problems:
            log(f"self-test FAILED: {msg}")
        return 1
    summarize(args, plan, d)
    print(json.dumps({"ok": True, "rows": N, "layers": args.layers, "d": d, "documents": plan.documents,
                      "contexts": len(plan.contexts), "dtype": args.save_dtype, "keep_bos": bool(args.keep_bos)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
