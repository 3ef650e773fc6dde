#!/usr/bin/env python3
"""NumPy reference of `npm run bench:lm -- --model gpt2`: a plain float32 GPT-2 forward of the
bench's Hugging Face folder (config.json + model.safetensors, F32) over the same random-token
documents in the same batches, to residual site `--site` (blocks.site.hook_resid_pre) and to the
logits, timed like the tfjs rows (one warm-up batch of each kind, then whole passes until
--passes or --budget seconds). Also returns document 0's last-token residual at the site and its
logits, which the bench compares with each tfjs backend's.

    python3 gpt2_numpy.py --folder DIR --documents FILE.json [--site 8] [--passes 2] [--budget 10]

FILE.json: {"documents": [[ids...], ...], "batches": [[doc indices...], ...]}. Prints one JSON
object on stdout. BLAS threads: NumPy's default (every core), as wasm uses every core.
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.fromfile(path, dtype=np.uint8, offset=8 + n)
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        if e['dtype'] != 'F32':
            raise SystemExit(f'{name}: dtype {e["dtype"]}; this reference reads F32 only')
        b, end = e['data_offsets']
        out[name] = data[b:end].view(np.float32).reshape(e['shape'])
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    c = x - mu
    var = (c * c).mean(-1, keepdims=True)
    return c / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return np.float32(0.5) * x * (np.float32(1) + np.tanh(np.float32(np.sqrt(2 / np.pi)) * (x + np.float32(0.044715) * x * x * x)))


class Gpt2:
    def __init__(self, folder):
        with open(os.path.join(folder, 'config.json')) as f:
            c = json.load(f)
        self.D, self.L, self.H = c['n_embd'], c['n_layer'], c['n_head']
        self.eps = np.float32(c.get('layer_norm_epsilon', 1e-5))
        t = read_safetensors(os.path.join(folder, 'model.safetensors'))
        p = 'transformer.' if 'transformer.wte.weight' in t else ''
        g = lambda k: t[p + k]
        self.wte, self.wpe = g('wte.weight'), g('wpe.weight')
        self.wte_t = np.ascontiguousarray(self.wte.T)  # [D, V], as the engine holds the unembedding
        self.ln_f = (g('ln_f.weight'), g('ln_f.bias'))
        self.blocks = []
        for l in range(self.L):
            h = f'h.{l}.'
            self.blocks.append({k: g(h + k) for k in [
                'ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
                'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']})

    def forward(self, ids, until=None):
        """ids [B, T] → the residual at site `until` [B·T, D], or the logits [B·T, V]. Linear maps
        run on 2-D [B·T, D] arrays (one BLAS call each), attention on [B, H, T, hs] stacks."""
        B, T = ids.shape
        D, H = self.D, self.H
        hs = D // H
        x = (self.wte[ids] + self.wpe[:T]).reshape(B * T, D)
        mask = np.triu(np.full((T, T), -1e9, dtype=np.float32), 1)
        scale = np.float32(1 / np.sqrt(hs))
        for l in range(self.L if until is None else until):
            b = self.blocks[l]
            h = layer_norm(x, b['ln_1.weight'], b['ln_1.bias'], self.eps)
            qkv = (h @ b['attn.c_attn.weight'] + b['attn.c_attn.bias']).reshape(B, T, 3, H, hs)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            s = q @ k + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(B * T, D)
            x = x + (a @ b['attn.c_proj.weight'] + b['attn.c_proj.bias'])
            h = layer_norm(x, b['ln_2.weight'], b['ln_2.bias'], self.eps)
            x = x + (gelu_new(h @ b['mlp.c_fc.weight'] + b['mlp.c_fc.bias']) @ b['mlp.c_proj.weight'] + b['mlp.c_proj.bias'])
        if until is not None:
            return x
        return layer_norm(x, *self.ln_f, self.eps) @ self.wte_t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--folder', required=True)
    ap.add_argument('--documents', required=True)
    ap.add_argument('--site', type=int, default=8)
    ap.add_argument('--passes', type=int, default=2)
    ap.add_argument('--budget', type=float, default=10)
    a = ap.parse_args()
    with open(a.documents) as f:
        spec = json.load(f)
    docs = [np.array(d, dtype=np.int64) for d in spec['documents']]
    batches = []
    for bt in spec['batches']:
        T = max(len(docs[i]) for i in bt)
        ids = np.zeros((len(bt), T), dtype=np.int64)
        for r, i in enumerate(bt):
            ids[r, :len(docs[i])] = docs[i]
        batches.append(ids)
    tokens = sum(len(d) for d in docs)

    t0 = time.perf_counter()
    m = Gpt2(a.folder)
    load_s = time.perf_counter() - t0

    def time_kind(until):
        w0 = time.perf_counter()
        m.forward(batches[0], until)
        warm = time.perf_counter() - w0
        passes, elapsed, fastest = 0, 0.0, float('inf')
        cpu0 = time.process_time()
        while passes < a.passes and (passes == 0 or elapsed < a.budget):
            p0 = time.perf_counter()
            for ids in batches:
                m.forward(ids, until)
            dt = time.perf_counter() - p0
            elapsed += dt
            fastest = min(fastest, dt)
            passes += 1
        ms = elapsed / passes * 1000
        return {'passes': passes, 'msPerPass': ms, 'tokensPerS': tokens / (ms / 1000), 'warmupMs': warm * 1000,
                'fastestMsPerPass': fastest * 1000, 'cpuS': time.process_time() - cpu0}

    extract = time_kind(a.site)
    full = time_kind(None)
    d0 = docs[0][None, :]
    residual = m.forward(d0, a.site)[-1]
    logits = m.forward(d0)[-1]
    info = {'numpy': np.__version__, 'python': sys.version.split()[0]}
    try:
        cfg = np.show_config(mode='dicts')
        blas = cfg.get('Build Dependencies', {}).get('blas', {})
        info['blas'] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy
        pass
    json.dump({
        **info,
        'loadMs': load_s * 1000,
        'documents': len(docs), 'tokens': tokens, 'batches': len(batches), 'site': a.site,
        'extract': extract, 'full': full,
        'maxRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'probe': {'residual': residual.astype(float).tolist(), 'logits': logits.astype(float).tolist()},
    }, sys.stdout)


if __name__ == '__main__':
    main()
