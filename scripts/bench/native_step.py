#!/usr/bin/env python3
"""Native reference for `npm run bench`: the SAE Workbench training step in NumPy.

One step is what src/engine/trainer.ts does for a single-layer variant with the config defaults
(src/engine/config.ts): draw a batch from the training rows, forward pass, loss, a hand-written
backward pass, global-norm gradient clipping (1.0), Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8,
bias-corrected as src/engine/adam.ts does), the variant's constraint (unit-norm decoder rows; θ ≥ 1e-6
for JumpReLU), the variant's after-step update (BatchTopK's running threshold) and the dead-latent
counters. float32 throughout, like the engine.

The losses (src/engine/variants/*.ts, src/engine/losses.ts), with B the batch size, x̃ = x − b_dec:
  relu       z = x̃ W_enc + b_enc, f = ReLU(z), x̂ = f W_dec + b_dec
             L = Σ||x − x̂||²/B + λ Σ_b Σ_i |f_bi| ||W_dec,i|| / B          (λ = 1; the norm is differentiated)
  topk       f = z · 1[z among the row's k largest] · 1[z > 0]            (k = round(0.05 d_sae))
             L = Σ||x − x̂||²/B + α AuxK,  α = 1/32
  batchtopk  as topk, but the k·B largest entries of the whole batch; afterwards θ_g ← running
             average (rate 0.01) of the smallest kept activation
  AuxK       e = sg(x − x̂); dead latents' top-k_aux positive pre-activations (k_aux = d_in/2) decoded
             without b_dec; AuxK = min(n_dead/k_aux, 1) · Σ||ê − e||²/B. Skipped while no latent is
             dead (it is exactly 0 then), as SAELens does and the engine does on wasm and cpu.
  jumprelu   f = z · H(z − θ), L = Σ||x − x̂||²/B + λ Σ_b Σ_i H(z_bi − θ_i)/B   (λ = 0.1, ε = 0.05, θ₀ = 0.05)
             straight-through: ∂f/∂z = H(z − θ); ∂f/∂θ = −(θ/ε) K((z − θ)/ε); ∂H/∂z = 0;
             ∂H/∂θ = −(1/ε) K((z − θ)/ε); K(u) = 1[−½ < u < ½]
  gated      h = x̃ W_enc, π_gate = h + b_gate, π_mag = exp(r_mag) ⊙ h + b_mag,
             f = 1[π_gate > 0] ⊙ ReLU(π_mag), x̂ = f W_dec + b_dec
             L = Σ||x − x̂||²/B + λ Σ_b Σ_i ReLU(π_gate)_bi ||W_dec,i|| / B
                 + Σ||x − (ReLU(π_gate) sg(W_dec) + sg(b_dec))||²/B          (λ = 1)

The backward pass is written out by hand. One liberty, a standard one: b_dec's gradient through
the centring x − b_dec is −W_enc (Σ_b ∂z_b), a matrix-vector product, where autodiff (the engine)
forms the full [B, d_in] input gradient first.

Usage:
  python3 scripts/bench/native_step.py [--sizes small,medium,gpt2] [--variants relu,topk,...]
                                       [--target-seconds 2] [--scaling] [--json]
  python3 scripts/bench/native_step.py --check      # hand-written gradients vs finite differences
  python3 scripts/bench/native_step.py --sgemm      # only the sgemm ceiling
  python3 scripts/bench/native_step.py --grads < cases.json   # loss and gradients of given points
                     (src/engine/bench.native.test.ts compares them with the engine's own autodiff)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

SIZES = {
    'small': {'d_in': 64, 'd_sae': 2048, 'batch': 1024},
    'medium': {'d_in': 512, 'd_sae': 4096, 'batch': 512},
    'gpt2': {'d_in': 768, 'd_sae': 24576, 'batch': 1024},
}
# The rows of a size: (label, variant, k or None for the config default). At GPT-2 width TopK runs at
# k 32 (what SAEs of that width use) and at the default 5 % (k 1,229); gated is left out there.
GPT2_CASES = (('relu', 'relu', None), ('topk', 'topk', 32), ('topk k 5%', 'topk', None), ('batchtopk', 'batchtopk', 32), ('jumprelu', 'jumprelu', None))
SCALING_768_D_SAE = (4096, 8192, 16384, 24576, 32768)


def cases(size: str, variants: list[str]) -> list[tuple[str, str, int | None]]:
    if size == 'gpt2':
        return [c for c in GPT2_CASES if c[1] in variants]
    return [(v, v, None) for v in variants]
VARIANTS = ('relu', 'topk', 'batchtopk', 'jumprelu', 'gated')
SCALING_D_SAE = (512, 1024, 2048, 4096, 8192, 16384)
SCALING_BATCH = (128, 256, 512, 1024, 2048, 4096)

LR = 1e-3
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
GRAD_CLIP = 1.0
DEAD_WINDOW = 200_000
TARGET_L0 = 0.05
MIN_THRESHOLD = 1e-6


def settings(variant: str, d_in: int, d_sae: int) -> dict:
    """The config defaults the engine resolves for this variant and size (src/engine/config.ts)."""
    k = max(1, round(TARGET_L0 * d_sae))
    s = {'variant': variant}
    if variant in ('relu', 'gated'):
        s['lam'] = 1.0
    elif variant == 'jumprelu':
        s.update(lam=0.1, bandwidth=0.05, init_threshold=0.05)
    elif variant in ('topk', 'batchtopk'):
        s.update(k=k, aux_k=max(1, min(d_sae, d_in // 2)), aux_coef=1 / 32)
        if variant == 'batchtopk':
            s['threshold_lr'] = 0.01
    else:
        raise ValueError(f'unknown variant {variant}')
    return s


# ---- parameters ---------------------------------------------------------------------------------

def init_params(variant: str, d_in: int, d_sae: int, mean: np.ndarray, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Random unit decoder rows, W_enc = W_decᵀ, zero encoder biases, b_dec = the data mean."""
    w_dec = rng.standard_normal((d_sae, d_in)).astype(dtype)
    w_dec /= np.maximum(np.sqrt((w_dec * w_dec).sum(1, keepdims=True)), 1e-12)
    p = {'W_enc': np.ascontiguousarray(w_dec.T), 'W_dec': w_dec, 'b_dec': mean.astype(dtype).copy()}
    if variant == 'gated':
        p.update(b_gate=np.zeros(d_sae, dtype), r_mag=np.zeros(d_sae, dtype), b_mag=np.zeros(d_sae, dtype))
    else:
        p['b_enc'] = np.zeros(d_sae, dtype)
    if variant == 'jumprelu':
        p['threshold'] = np.full(d_sae, settings(variant, d_in, d_sae)['init_threshold'], dtype)
    return p


def kth_largest_per_row(a: np.ndarray, k: int) -> np.ndarray:
    """[B, 1]: each row's k-th largest value."""
    n = a.shape[1]
    return np.partition(a, n - k, axis=1)[:, n - k:n - k + 1]


# ---- loss and hand-written gradients ------------------------------------------------------------

def loss_and_grads(p: dict, x: np.ndarray, s: dict, dead: np.ndarray) -> tuple[float, dict, np.ndarray]:
    """Loss, gradients of every parameter, and the latents f (for the after-step bookkeeping)."""
    v = s['variant']
    B = x.shape[0]
    dt = x.dtype
    two_b = dt.type(2.0 / B)
    w_enc, w_dec, b_dec = p['W_enc'], p['W_dec'], p['b_dec']
    g = {}
    xc = x - b_dec                                          # [B, d_in]

    if v == 'gated':
        lam = dt.type(s['lam'])
        h = xc @ w_enc                                      # GEMM: encoder forward
        pi_gate = h + p['b_gate']
        er = np.exp(p['r_mag'])
        pi_mag = h * er
        pi_mag += p['b_mag']
        gate = pi_gate > 0
        keep = gate & (pi_mag > 0)
        f = pi_mag * keep
        xhat = f @ w_dec                                    # GEMM: decoder forward
        xhat += b_dec
        e = xhat - x
        gate_act = np.maximum(pi_gate, 0)
        norms = np.sqrt(np.einsum('ij,ij->i', w_dec, w_dec))
        via = gate_act @ w_dec                              # GEMM: aux decoder forward (sg(W_dec))
        via += b_dec
        e2 = via - x
        loss = (float(np.vdot(e, e)) + float(s['lam']) * float(gate_act.sum(0) @ norms) + float(np.vdot(e2, e2))) / B
        dxhat = e * two_b
        g['W_dec'] = f.T @ dxhat                            # GEMM: ∂W_dec
        g['W_dec'] += ((lam / B) * gate_act.sum(0) / norms)[:, None] * w_dec
        g['b_dec'] = dxhat.sum(0)
        df = dxhat @ w_dec.T                                # GEMM: ∂f
        df *= keep                                          # ∂π_mag
        g['b_mag'] = df.sum(0)
        g['r_mag'] = er * np.einsum('ij,ij->j', df, h)
        df *= er                                            # ∂h through the magnitude path
        d_gate = (e2 * two_b) @ w_dec.T                     # GEMM: ∂ReLU(π_gate) from the aux loss
        d_gate += (lam / B) * norms
        d_gate *= gate                                      # ∂π_gate
        g['b_gate'] = d_gate.sum(0)
        df += d_gate                                        # ∂h
        g['W_enc'] = xc.T @ df                              # GEMM: ∂W_enc
        g['b_dec'] -= w_enc @ df.sum(0)
        return loss, g, f

    z = xc @ w_enc                                          # GEMM: encoder forward
    z += p['b_enc']
    if v == 'relu':
        keep = z > 0
        f = z * keep
    elif v == 'topk':
        keep = (z >= kth_largest_per_row(z, s['k'])) & (z > 0)
        f = z * keep
    elif v == 'batchtopk':
        flat = z.reshape(-1)
        total = max(1, min(round(s['k'] * B), flat.size))
        kth = np.partition(flat, flat.size - total)[flat.size - total]
        keep = ((z - kth) >= 0) & (z > 0)
        f = z * keep
    elif v == 'jumprelu':
        theta = p['threshold']
        keep = z > theta
        f = z * keep
    else:
        raise ValueError(v)
    xhat = f @ w_dec                                        # GEMM: decoder forward
    xhat += b_dec
    e = xhat - x
    loss = float(np.vdot(e, e)) / B
    dxhat = e * two_b
    g['W_dec'] = f.T @ dxhat                                # GEMM: ∂W_dec
    g['b_dec'] = dxhat.sum(0)
    df = dxhat @ w_dec.T                                    # GEMM: ∂f
    if v == 'relu':
        lam = dt.type(s['lam'])
        norms = np.sqrt(np.einsum('ij,ij->i', w_dec, w_dec))
        f_sum = f.sum(0)
        loss += float(s['lam']) * float(f_sum @ norms) / B
        g['W_dec'] += ((lam / B) * f_sum / norms)[:, None] * w_dec
        df += (lam / B) * norms                            # ∂|f|/∂f = 1 where f > 0 (masked below)
        df *= keep
    elif v == 'jumprelu':
        lam, eps = s['lam'], s['bandwidth']
        l0_counts = keep.sum(0)
        loss += lam * float(l0_counts.sum()) / B
        u = (z - theta) * dt.type(1.0 / eps)
        window = (u > -0.5) & (u < 0.5)                     # K((z − θ)/ε)
        g['threshold'] = (-(theta / dt.type(eps))) * (df * window).sum(0) - dt.type(lam / (B * eps)) * window.sum(0).astype(dt)
        df *= keep
    else:  # topk, batchtopk: AuxK on the dead latents
        df *= keep
        aux = aux_k(z, e, w_dec, dead, s)
        if aux is not None:
            aux_loss, aux_w_dec, dz_aux = aux
            loss += aux_loss
            g['W_dec'] += aux_w_dec
            df += dz_aux
    g['b_enc'] = df.sum(0)
    g['W_enc'] = xc.T @ df                                  # GEMM: ∂W_enc
    g['b_dec'] -= w_enc @ g['b_enc']
    return loss, g, f


def aux_k(z: np.ndarray, e: np.ndarray, w_dec: np.ndarray, dead: np.ndarray, s: dict):
    """AuxK on the dead latents: (loss term, its ∂W_dec, its ∂z), or None while no latent is dead."""
    dt = z.dtype
    B = z.shape[0]
    coef = s['aux_coef']
    n_dead = float(dead.sum())
    if not (coef > 0 and n_dead > 0):
        return None
    k_aux = min(s['aux_k'], z.shape[1])
    dead_f = dead.astype(dt)
    dead_only = z * dead_f
    dead_only += (dead_f - 1) * dt.type(1e30)
    keep_aux = ((dead_only - kth_largest_per_row(dead_only, k_aux)) >= 0) & (dead_f > 0) & (z > 0)
    z_aux = z * keep_aux
    e_aux = z_aux @ w_dec                               # GEMM: AuxK decoder forward
    e_aux += e                                          # ê − sg(x − x̂) = ê + (x̂ − x)
    scale = min(n_dead / s['aux_k'], 1.0)
    loss = coef * scale * float(np.vdot(e_aux, e_aux)) / B
    d_aux = e_aux * dt.type(coef * scale * 2.0 / B)
    g_w_dec = z_aux.T @ d_aux                           # GEMM: ∂W_dec from AuxK
    dz_aux = d_aux @ w_dec.T                            # GEMM: ∂z from AuxK
    dz_aux *= keep_aux
    return loss, g_w_dec, dz_aux


def scatter_rows(ids: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """[n, d]: out[i] = Σ rows[j] over j with ids[j] = i (a scatter-add, by sorting and np.add.reduceat)."""
    order = np.argsort(ids, kind='stable')
    sid = ids[order]
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    out = np.zeros((n, rows.shape[1]), rows.dtype)
    out[sid[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


def sparse_topk_loss_and_grads(p: dict, x: np.ndarray, s: dict, dead: np.ndarray) -> tuple[float, dict, tuple]:
    """
    The TopK step of loss_and_grads with only the encoder forward dense: the decoder forward is a
    gather-sum of each token's k selected decoder rows, and ∂W_dec, ∂W_enc, ∂b_enc are scatter-adds
    over the selected latents (k per token) instead of [d_sae, B] products. Returns the latents as
    (indices [B, k], values [B, k]). AuxK (only while latents are dead) is the dense code's.
    """
    B, D = x.shape
    S = p['W_dec'].shape[0]
    k = s['k']
    dt = x.dtype
    two_b = dt.type(2.0 / B)
    w_enc, w_dec, b_dec = p['W_enc'], p['W_dec'], p['b_dec']
    g = {}
    xc = x - b_dec
    z = xc @ w_enc                                          # GEMM: encoder forward (the one dense product)
    z += p['b_enc']
    idx = np.argpartition(z, S - k, axis=1)[:, S - k:]      # [B, k] the row's k largest
    vals = np.take_along_axis(z, idx, axis=1)
    keep = vals > 0
    vals = vals * keep
    wg = w_dec[idx]                                         # [B, k, d_in] gathered decoder rows
    xhat = np.matmul(vals[:, None, :], wg)[:, 0, :]         # gather-sum: Σ_j f_bj W_dec[idx_bj]
    xhat += b_dec
    e = xhat - x
    loss = float(np.vdot(e, e)) / B
    dxhat = e * two_b
    flat = idx.reshape(-1)
    g['W_dec'] = scatter_rows(flat, (vals[:, :, None] * dxhat[:, None, :]).reshape(-1, D), S)
    g['b_dec'] = dxhat.sum(0)
    df = np.matmul(wg, dxhat[:, :, None])[:, :, 0]          # [B, k] ∂f at the selected latents
    df *= keep
    g_b_enc = np.bincount(flat, weights=df.reshape(-1), minlength=S).astype(dt)
    g_w_enc_t = scatter_rows(flat, (df[:, :, None] * xc[:, None, :]).reshape(-1, D), S)
    aux = aux_k(z, e, w_dec, dead, s)
    if aux is not None:
        aux_loss, aux_w_dec, dz_aux = aux
        loss += aux_loss
        g['W_dec'] += aux_w_dec
        g_b_enc += dz_aux.sum(0)
        g_w_enc_t += (xc.T @ dz_aux).T
    g['b_enc'] = g_b_enc
    g['W_enc'] = np.ascontiguousarray(g_w_enc_t.T)
    g['b_dec'] -= w_enc @ g_b_enc
    return loss, g, (idx, vals)


def sparse_check(d_in: int = 64, d_sae: int = 2048, batch: int = 1024, k: int = 32, tol: float = 1e-5) -> dict:
    """The sparse TopK step's loss and gradients against the dense step's (float32), with and without dead latents."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((batch, d_in), dtype=np.float32)
    p = init_params('topk', d_in, d_sae, x.mean(0), rng)
    p['b_enc'] = (0.1 * rng.standard_normal(d_sae)).astype(np.float32)
    s = settings('topk', d_in, d_sae)
    s['k'] = k
    worst = 0.0
    for dead in (np.zeros(d_sae, bool), rng.random(d_sae) < 0.3):
        ld, gd, _ = loss_and_grads({n: t.copy() for n, t in p.items()}, x, s, dead)
        ls, gs, _ = sparse_topk_loss_and_grads({n: t.copy() for n, t in p.items()}, x, s, dead)
        worst = max(worst, abs(ls - ld) / max(abs(ld), 1e-30))
        for n in gd:
            worst = max(worst, float(np.abs(gs[n] - gd[n]).max() / max(np.abs(gd[n]).max(), 1e-30)))
    return {'dIn': d_in, 'dSae': d_sae, 'batch': batch, 'k': k, 'maxRelErr': worst, 'tol': tol, 'ok': bool(worst <= tol)}


# ---- the rest of the step -----------------------------------------------------------------------

class NativeTrainer:
    def __init__(self, variant: str, d_in: int, d_sae: int, batch: int, seed: int = 1, k: int | None = None, sparse: bool = False):
        self.variant, self.d_in, self.d_sae, self.batch = variant, d_in, d_sae, batch
        self.s = settings(variant, d_in, d_sae)
        if k is not None:
            self.s['k'] = k
        if sparse and variant != 'topk':
            raise ValueError('the sparse step is TopK only')
        self.loss_and_grads = sparse_topk_loss_and_grads if sparse else loss_and_grads
        rng = np.random.default_rng(seed)
        self.rows = batch * 4  # as src/engine/bench.ts
        self.data = rng.standard_normal((self.rows, d_in), dtype=np.float32)
        self.p = init_params(variant, d_in, d_sae, self.data.mean(0), rng)
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0
        self.tokens_since_fired = np.zeros(d_sae, np.float32)
        self.theta_g = -1.0  # BatchTopK's running threshold, unset
        self.rng = rng
        self.order = rng.permutation(self.rows)
        self.pos = 0

    def next_batch(self) -> np.ndarray:
        """Rows in a seeded order, reshuffled each epoch (as src/data/dataset.ts BatchSampler)."""
        idx = np.empty(self.batch, np.int64)
        filled = 0
        while filled < self.batch:
            if self.pos >= self.rows:
                self.order = self.rng.permutation(self.rows)
                self.pos = 0
            n = min(self.batch - filled, self.rows - self.pos)
            idx[filled:filled + n] = self.order[self.pos:self.pos + n]
            filled += n
            self.pos += n
        return self.data[idx]

    def step(self) -> float:
        x = self.next_batch()
        dead = self.tokens_since_fired >= DEAD_WINDOW
        loss, g, f = self.loss_and_grads(self.p, x, self.s, dead)
        # Global-norm clipping.
        norm = float(np.sqrt(sum(float(np.vdot(t, t)) for t in g.values())))
        scale = min(GRAD_CLIP / max(norm, 1e-12), 1.0)
        if scale < 1.0:
            for t in g.values():
                t *= np.float32(scale)
        # Adam, in place.
        self.t += 1
        c1 = 1 - BETA1 ** self.t
        c2 = 1 - BETA2 ** self.t
        for name, grad in g.items():
            m, v, param = self.m[name], self.v[name], self.p[name]
            m *= np.float32(BETA1)
            m += np.float32(1 - BETA1) * grad
            grad *= grad
            v *= np.float32(BETA2)
            v += np.float32(1 - BETA2) * grad
            denom = v * np.float32(1 / c2)
            np.sqrt(denom, out=denom)
            denom += np.float32(ADAM_EPS)
            upd = m * np.float32(LR / c1)
            upd /= denom
            param -= upd
        # Constraints.
        w = self.p['W_dec']
        w /= np.maximum(np.sqrt(np.einsum('ij,ij->i', w, w)), np.float32(1e-8))[:, None]
        if self.variant == 'jumprelu':
            np.maximum(self.p['threshold'], np.float32(MIN_THRESHOLD), out=self.p['threshold'])
        if isinstance(f, tuple):  # the sparse step: (indices, values) of the kept latents
            idx, vals = f
            fired = np.bincount(idx[vals > 0], minlength=self.d_sae)
            self.tokens_since_fired += np.float32(self.batch)
            self.tokens_since_fired[fired > 0] = 0
            return loss
        if self.variant == 'batchtopk':
            pos = f[f > 0]
            if pos.size:
                mp = float(pos.min())
                lr = self.s['threshold_lr']
                self.theta_g = mp if self.theta_g < 0 else (1 - lr) * self.theta_g + lr * mp
        # Dead-latent counters (the inference threshold is 0 at the defaults).
        fired = np.count_nonzero(f > 0, axis=0)
        self.tokens_since_fired += np.float32(self.batch)
        self.tokens_since_fired[fired > 0] = 0
        return loss


def time_steps(variant: str, d_in: int, d_sae: int, batch: int, target_s: float, warmup: int = 2, min_steps: int = 3, max_steps: int = 200, k: int | None = None, sparse: bool = False) -> dict:
    """Each step timed on its own; tokens/s from the median step (robust to a busy machine)."""
    tr = NativeTrainer(variant, d_in, d_sae, batch, k=k, sparse=sparse)
    for _ in range(warmup):
        tr.step()
    times: list[float] = []
    t0 = time.perf_counter()
    while len(times) < max_steps and (len(times) < min_steps or time.perf_counter() - t0 < target_s):
        t = time.perf_counter()
        tr.step()
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return {'variant': variant, 'k': tr.s.get('k'), 'dIn': d_in, 'dSae': d_sae, 'batch': batch, 'steps': len(times),
            'msPerStep': 1000 * med, 'meanMsPerStep': 1000 * float(np.mean(times)), 'tokensPerS': batch / med}


# ---- sgemm ceiling -------------------------------------------------------------------------------

def sgemm_gflops(m: int, k: int, n: int, trans_a: bool = False, repeats: int = 7, min_seconds: float = 0.3) -> float:
    """Best-of-`repeats` float32 GFLOP/s of an [m, k] × [k, n] product (A stored transposed when trans_a)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    aa = a.T if trans_a else a
    out = np.empty((m, n), np.float32)
    np.matmul(aa, b, out=out)
    # Enough calls per sample that one sample lasts ≳ 20 ms.
    t = time.perf_counter(); np.matmul(aa, b, out=out); one = max(time.perf_counter() - t, 1e-6)
    inner = max(1, int(0.02 / one))
    best = float('inf')
    start = time.perf_counter()
    r = 0
    while r < repeats or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        for _ in range(inner):
            np.matmul(aa, b, out=out)
        best = min(best, (time.perf_counter() - t) / inner)
        r += 1
        if r >= 50:
            break
    return 2.0 * m * k * n / best / 1e9


def sgemm_report(sizes: list[str]) -> dict:
    shapes = [('square 1024³', 1024, 1024, 1024, False)]
    for name in sizes:
        sz = SIZES[name]
        B, D, S = sz['batch'], sz['d_in'], sz['d_sae']
        shapes += [
            (f'{name} encoder [B,d_in]×[d_in,d_sae]', B, D, S, False),
            (f'{name} decoder [B,d_sae]×[d_sae,d_in]', B, S, D, False),
            (f'{name} ∂W_enc [d_in,B]×[B,d_sae] (Aᵀ)', D, B, S, True),
            (f'{name} ∂W_dec [d_sae,B]×[B,d_in] (Aᵀ)', S, B, D, True),
        ]
    out = [{'shape': label, 'm': m, 'k': k, 'n': n, 'gflops': sgemm_gflops(m, k, n, ta)} for label, m, k, n, ta in shapes]
    return {'shapes': out, 'ceilingGflops': max(r['gflops'] for r in out), 'square1024Gflops': out[0]['gflops']}


def openblas_core() -> str | None:
    """The OpenBLAS kernel set that runs (e.g. SkylakeX, Haswell): openblas_get_corename of the loaded library."""
    import ctypes
    try:
        with open('/proc/self/maps') as fh:
            libs = sorted({ln.split()[-1] for ln in fh if 'openblas' in ln.lower() and ln.rstrip().endswith('.so') or '.so.' in ln and 'openblas' in ln.lower()})
    except OSError:
        return None
    for lib in libs:
        try:
            h = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ('scipy_openblas_get_corename64_', 'scipy_openblas_get_corename', 'openblas_get_corename64_', 'openblas_get_corename'):
            fn = getattr(h, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return None


def blas_info() -> dict:
    info = {'numpy': np.__version__, 'python': sys.version.split()[0], 'cpus': os.cpu_count(),
            'OPENBLAS_NUM_THREADS': os.environ.get('OPENBLAS_NUM_THREADS'), 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS')}
    try:
        cfg = np.show_config(mode='dicts')
        blas = cfg.get('Build Dependencies', {}).get('blas', {})
        info['blas'] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 — older numpy
        pass
    info['OPENBLAS_CORETYPE'] = os.environ.get('OPENBLAS_CORETYPE')
    core = openblas_core()
    if core:
        info['blasCore'] = core
    try:
        from threadpoolctl import threadpool_info  # type: ignore
        pools = [p for p in threadpool_info() if p.get('user_api') == 'blas']
        if pools:
            info['blasThreads'] = pools[0].get('num_threads')
    except Exception:  # noqa: BLE001 — optional
        pass
    return info


# ---- gradient check ------------------------------------------------------------------------------

def reference_loss(p: dict, x: np.ndarray, s: dict, dead: np.ndarray, frozen: dict) -> float:
    """
    The loss written directly from the formulas (independently of loss_and_grads), float64, for
    finite differences. Stop-gradients read `frozen` (values at the unperturbed point). For JumpReLU
    the threshold enters through a surrogate whose θ-derivative at frozen['theta'] is exactly the
    straight-through estimator and whose value there is the true loss:
      f  = z·H(z − θ₀) + R(θ) − R(θ₀),  R(t) = −clip(t, z − ε/2, z + ε/2)² / (2ε)   ⇒ ∂f/∂θ = −(θ/ε) K
      H̃ = H(z − θ₀) + Q(θ) − Q(θ₀),    Q(t) = −clip(t, z − ε/2, z + ε/2) / ε        ⇒ ∂H̃/∂θ = −(1/ε) K
    """
    v = s['variant']
    B = x.shape[0]
    xc = x - p['b_dec']
    if v == 'gated':
        h = xc @ p['W_enc']
        pg = h + p['b_gate']
        pm = np.exp(p['r_mag']) * h + p['b_mag']
        f = np.where(pg > 0, 1.0, 0.0) * np.maximum(pm, 0)
        xhat = f @ p['W_dec'] + p['b_dec']
        norms = np.linalg.norm(p['W_dec'], axis=1)
        via = np.maximum(pg, 0) @ frozen['W_dec'] + frozen['b_dec']
        return (np.sum((x - xhat) ** 2) + s['lam'] * np.sum(np.abs(np.maximum(pg, 0)) * norms) + np.sum((x - via) ** 2)) / B
    z = xc @ p['W_enc'] + p['b_enc']
    if v == 'relu':
        f = np.maximum(z, 0)
    elif v == 'topk':
        order = np.argsort(-z, axis=1)[:, :s['k']]
        sel = np.zeros_like(z, dtype=bool)
        np.put_along_axis(sel, order, True, axis=1)
        f = np.where(sel & (z > 0), z, 0.0)
    elif v == 'batchtopk':
        total = max(1, min(round(s['k'] * B), z.size))
        idx = np.argsort(-z.reshape(-1))[:total]
        sel = np.zeros(z.size, dtype=bool)
        sel[idx] = True
        f = np.where(sel.reshape(z.shape) & (z > 0), z, 0.0)
    elif v == 'jumprelu':
        eps, t0, t = s['bandwidth'], frozen['theta'], p['threshold']
        lo, hi = z - eps / 2, z + eps / 2

        def R(th):
            return -np.clip(th, lo, hi) ** 2 / (2 * eps)

        def Q(th):
            return -np.clip(th, lo, hi) / eps
        f = z * (z > t0) + R(t) - R(t0)
        H = (z > t0) + Q(t) - Q(t0)
    xhat = f @ p['W_dec'] + p['b_dec']
    loss = np.sum((x - xhat) ** 2) / B
    if v == 'relu':
        loss += s['lam'] * np.sum(np.abs(f) * np.linalg.norm(p['W_dec'], axis=1)) / B
    elif v == 'jumprelu':
        loss += s['lam'] * np.sum(H) / B
    elif v in ('topk', 'batchtopk') and s['aux_coef'] > 0:
        k_aux = min(s['aux_k'], z.shape[1])
        zz = np.where(dead[None, :], z, -np.inf)
        top = np.argsort(-zz, axis=1)[:, :k_aux]
        sel = np.zeros_like(z, dtype=bool)
        np.put_along_axis(sel, top, True, axis=1)
        keep = sel & dead[None, :] & (z > 0)
        e_hat = np.where(keep, z, 0.0) @ p['W_dec']
        scale = min(dead.sum() / s['aux_k'], 1.0)
        loss += s['aux_coef'] * scale * np.sum((e_hat - frozen['residual']) ** 2) / B
    return float(loss)


def gradient_check(verbose: bool = True) -> bool:
    rng = np.random.default_rng(3)
    B, D, S = 16, 5, 24
    ok = True
    rows = []
    for v in VARIANTS:
        s = settings(v, D, S)
        if v in ('topk', 'batchtopk'):
            s.update(k=4, aux_k=3)
        if v == 'jumprelu':
            s.update(bandwidth=0.5, init_threshold=0.3)  # a wide window: many entries get a θ gradient
        x = rng.standard_normal((B, D)) * 1.5 + 0.3
        p = {k: t.astype(np.float64) for k, t in init_params(v, D, S, x.mean(0), rng, np.float64).items()}
        # Move off the initial point: non-unit decoder rows (the norm's gradient matters), nonzero biases.
        p['W_dec'] *= rng.uniform(0.5, 2.0, (S, 1))
        p['W_enc'] += 0.3 * rng.standard_normal(p['W_enc'].shape)
        for name in ('b_enc', 'b_gate', 'b_mag', 'r_mag'):
            if name in p:
                p[name] = 0.2 * rng.standard_normal(S)
        if v == 'jumprelu':
            p['threshold'] = rng.uniform(0.05, 0.6, S)
        dead = rng.random(S) < 0.4
        # Values stop-gradients hold (at the unperturbed point).
        xc = x - p['b_dec']
        frozen = {'W_dec': p['W_dec'].copy(), 'b_dec': p['b_dec'].copy(), 'theta': p.get('threshold', np.zeros(S)).copy()}
        if v in ('topk', 'batchtopk'):
            z = xc @ p['W_enc'] + p['b_enc']
            if v == 'topk':
                sel = np.zeros_like(z, dtype=bool)
                np.put_along_axis(sel, np.argsort(-z, axis=1)[:, :s['k']], True, axis=1)
            else:
                total = max(1, min(round(s['k'] * B), z.size))
                sel = np.zeros(z.size, dtype=bool)
                sel[np.argsort(-z.reshape(-1))[:total]] = True
                sel = sel.reshape(z.shape)
            f = np.where(sel & (z > 0), z, 0.0)
            frozen['residual'] = x - (f @ p['W_dec'] + p['b_dec'])
        loss, grads, _ = loss_and_grads({k: t.copy() for k, t in p.items()}, x, s, dead)
        ref = reference_loss(p, x, s, dead, frozen)
        loss_err = abs(loss - ref) / max(abs(ref), 1e-12)
        if loss_err > 1e-10:
            ok = False
        h = 1e-6
        for name in p:
            fd = np.zeros_like(p[name])
            it = np.nditer(p[name], flags=['multi_index'])
            for _ in it:
                i = it.multi_index
                old = p[name][i]
                p[name][i] = old + h
                up = reference_loss(p, x, s, dead, frozen)
                p[name][i] = old - h
                down = reference_loss(p, x, s, dead, frozen)
                p[name][i] = old
                fd[i] = (up - down) / (2 * h)
            scale = max(np.abs(fd).max(), np.abs(grads[name]).max(), 1e-12)
            err = float(np.abs(fd - grads[name]).max() / scale)
            nonzero = int(np.count_nonzero(np.abs(fd) > 1e-9 * scale))
            good = err < 1e-5 and nonzero > 0
            ok = ok and good
            rows.append((v, name, err, nonzero, fd.size, good))
        rows.append((v, '(loss value)', loss_err, 1, 1, loss_err <= 1e-10))
    if verbose:
        print(f'gradient check: batch {B}, d_in {D}, d_sae {S}, float64, central differences h = 1e-6')
        print(f'{"variant":<10} {"parameter":<13} {"max rel err":>12} {"nonzero":>8}  ok')
        for v, name, err, nz, size, good in rows:
            print(f'{v:<10} {name:<13} {err:12.2e} {nz:>4}/{size:<4} {"yes" if good else "NO"}')
        print('all gradients match' if ok else 'MISMATCH: a hand-written gradient disagrees with finite differences')
    return ok


def grads_for_cases(req: dict) -> dict:
    """
    Loss and gradients (float64) of given points: {"cases": [{"variant", "settings": {...overrides},
    "x": [[...]], "dead": [0/1 ...], "params": {name: nested lists}}]}.
    """
    out = []
    for c in req['cases']:
        x = np.asarray(c['x'], np.float64)
        p = {k: np.asarray(t, np.float64) for k, t in c['params'].items()}
        s = settings(c['variant'], x.shape[1], p['W_dec'].shape[0])
        s.update(c.get('settings', {}))
        dead = np.asarray(c.get('dead', np.zeros(p['W_dec'].shape[0])), np.float64) > 0.5
        loss, g, _ = loss_and_grads(p, x, s, dead)
        out.append({'loss': loss, 'grads': {k: t.tolist() for k, t in g.items()}})
    return {'cases': out}


# ---- main ------------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='check the hand-written gradients against finite differences')
    ap.add_argument('--grads', action='store_true', help='loss and gradients of the points given as JSON on stdin')
    ap.add_argument('--sgemm', action='store_true', help='only measure the sgemm ceiling')
    ap.add_argument('--sizes', default='small,medium')
    ap.add_argument('--variants', default=','.join(VARIANTS))
    ap.add_argument('--target-seconds', type=float, default=2.0, help='time each variant for about this long')
    ap.add_argument('--scaling', action='store_true', help='also relu tokens/s against d_sae and batch size')
    ap.add_argument('--scaling-d-sae', default=','.join(map(str, SCALING_D_SAE)), help='d_sae values of the scaling sweep (d_in 64, batch 1024)')
    ap.add_argument('--scaling-batch', default=','.join(map(str, SCALING_BATCH)), help='batch sizes of the scaling sweep (d_in 64, d_sae 2048)')
    ap.add_argument('--scaling-768', default='', help=f'd_sae values of a d_in 768, batch 1024 relu series (e.g. {",".join(map(str, SCALING_768_D_SAE))}); none by default')
    ap.add_argument('--sparse-check', action='store_true', help='only compare the sparse TopK step with the dense one')
    ap.add_argument('--json', action='store_true', help='print one JSON object (for scripts/bench.ts)')
    a = ap.parse_args(argv)
    if a.check:
        return 0 if gradient_check() else 1
    if a.sparse_check:
        r = sparse_check()
        print(json.dumps(r))
        return 0 if r['ok'] else 1
    if a.grads:
        print(json.dumps(grads_for_cases(json.load(sys.stdin))))
        return 0
    sizes = [s for s in a.sizes.split(',') if s]
    for s in sizes:
        if s not in SIZES:
            ap.error(f'unknown size {s}; use {", ".join(SIZES)}')
    variants = [v for v in a.variants.split(',') if v]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f'unknown variant {v}; use {", ".join(VARIANTS)}')
    log = (lambda *m: print(*m, file=sys.stderr)) if a.json else print
    out = {'info': blas_info()}
    t0 = time.perf_counter()
    out['sgemm'] = sgemm_report(sizes)
    log(f'OpenBLAS core: {out["info"].get("blasCore", "unknown")} (OPENBLAS_CORETYPE {out["info"].get("OPENBLAS_CORETYPE") or "unset"})')
    log(f'sgemm ceiling {out["sgemm"]["ceilingGflops"]:.1f} GFLOP/s (square 1024³: {out["sgemm"]["square1024Gflops"]:.1f})')
    if not a.sgemm:
        out['rows'] = []
        out['sparseRows'] = []
        for size in sizes:
            sz = SIZES[size]
            big = size == 'gpt2'
            budget = dict(warmup=1, min_steps=3, max_steps=10) if big else {}
            for label, v, k in cases(size, variants):
                r = time_steps(v, sz['d_in'], sz['d_sae'], sz['batch'], a.target_seconds, k=k, **budget)
                r['size'] = size
                r['label'] = label
                out['rows'].append(r)
                log(f'native {size} {label} (k {r["k"]}): {r["tokensPerS"]:,.0f} tokens/s ({r["msPerStep"]:.1f} ms/step, {r["steps"]} steps)')
                if big and v == 'topk' and k is not None:
                    if 'sparseCheck' not in out:
                        out['sparseCheck'] = sparse_check(k=k)
                        log(f'sparse vs dense TopK step (d_in 64, d_sae 2048, batch 1024, k {k}, float32): max rel err {out["sparseCheck"]["maxRelErr"]:.2e} ({"ok" if out["sparseCheck"]["ok"] else "MISMATCH"})')
                    r2 = time_steps(v, sz['d_in'], sz['d_sae'], sz['batch'], a.target_seconds, k=k, sparse=True, **budget)
                    r2['size'] = size
                    r2['label'] = label
                    out['sparseRows'].append(r2)
                    log(f'native sparse {size} {label} (k {k}): {r2["tokensPerS"]:,.0f} tokens/s ({r2["msPerStep"]:.1f} ms/step) vs dense {r["tokensPerS"]:,.0f}')
        if a.scaling:
            out['scaling'] = {'variant': 'relu', 'dSae': [], 'batch': []}
            for d_sae in [int(v) for v in a.scaling_d_sae.split(',') if v]:
                r = time_steps('relu', 64, d_sae, 1024, min(a.target_seconds, 1.5))
                out['scaling']['dSae'].append(r)
                log(f'native scaling d_sae {d_sae}: {r["tokensPerS"]:,.0f} tokens/s')
            if a.scaling_768:
                out['scaling']['dSae768'] = []
                for d_sae in [int(v) for v in a.scaling_768.split(',') if v]:
                    r = time_steps('relu', 768, d_sae, 1024, min(a.target_seconds, 1.5), warmup=1, min_steps=2, max_steps=10)
                    out['scaling']['dSae768'].append(r)
                    log(f'native scaling d_in 768 d_sae {d_sae}: {r["tokensPerS"]:,.0f} tokens/s')
            for batch in [int(v) for v in a.scaling_batch.split(',') if v]:
                r = time_steps('relu', 64, 2048, batch, min(a.target_seconds, 1.5))
                out['scaling']['batch'].append(r)
                log(f'native scaling batch {batch}: {r["tokensPerS"]:,.0f} tokens/s')
    out['seconds'] = time.perf_counter() - t0
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
