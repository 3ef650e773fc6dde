// The native reference of `npm run bench` (scripts/bench/native_step.py, NumPy) must compute the
// same step as the engine: its hand-written gradients are checked against finite differences
// (`--check`), and against the engine's own autodiff on the same small points (`--grads`).
// Skipped, with the reason in the test name, when python3 with numpy is not installed.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type SaeConfig } from './config';
import { createRng } from './rng';
import { useCpu } from './testing';
import { variantFor } from './variants/registry';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/bench/native_step.py');

function numpyMissing(): string | null {
  const r = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return `python3 is not available (${r.error.message})`;
  if (r.status !== 0) return `python3 has no numpy (${(r.stderr || '').trim().split('\n').pop()})`;
  return null;
}
const missing = numpyMissing();
if (missing) console.warn(`bench.native.test.ts: the native-reference tests are skipped: ${missing}`);

const D = 6, S = 16, B = 8;

/** Deterministic normal-ish values (a tiny LCG; independent of the engine's rng). */
function randn(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * scale);
}

const CASES: { input: Record<string, unknown>; settings: Record<string, number>; dead?: boolean }[] = [
  { input: { architecture: 'relu', l1_coefficient: 0.7 }, settings: { lam: 0.7 } },
  { input: { architecture: 'topk', sparsity_mode: 'manual', k: 4, aux_k: 3, aux_k_coefficient: 0.5 }, settings: { k: 4, aux_k: 3, aux_coef: 0.5 }, dead: true },
  { input: { architecture: 'batchtopk', sparsity_mode: 'manual', k: 4, aux_k: 3, aux_k_coefficient: 0.5 }, settings: { k: 4, aux_k: 3, aux_coef: 0.5 }, dead: true },
  { input: { architecture: 'jumprelu', l0_coefficient: 0.3, bandwidth: 0.4, init_threshold: 0.2 }, settings: { lam: 0.3, bandwidth: 0.4 } },
  { input: { architecture: 'gated', l1_coefficient: 0.7 }, settings: { lam: 0.7 } },
];

function nested(data: Float32Array | number[], shape: number[]): unknown {
  const a = Array.from(data);
  if (shape.length === 1) return a;
  const [rows, cols] = shape;
  return Array.from({ length: rows }, (_, r) => a.slice(r * cols, r * cols + cols));
}

describe('native reference (scripts/bench/native_step.py)', () => {
  beforeAll(useCpu);

  it.skipIf(missing !== null)(`hand-written gradients match finite differences${missing ? ` — SKIPPED: ${missing}` : ''}`, () => {
    const r = spawnSync('python3', [SCRIPT, '--check'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('all gradients match');
    expect(r.status).toBe(0);
  });

  it.skipIf(missing !== null)(`computes the engine's loss and gradients for relu, topk, batchtopk, jumprelu and gated${missing ? ` — SKIPPED: ${missing}` : ''}`, () => {
    const engine: { loss: number; grads: Record<string, { data: Float32Array; shape: number[] }> }[] = [];
    const cases = CASES.map((c, ci) => {
      const cfg = resolveConfig({ d_sae: S, ...c.input }, D) as SaeConfig;
      const variant = variantFor(cfg);
      const p = variant.init(cfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(ci));
      // Move every parameter off its initial value (non-unit decoder rows, nonzero biases).
      Object.entries(p).forEach(([name, v], i) => {
        const scale = name === 'W_enc' || name === 'W_dec' ? 0.5 : name === 'threshold' ? 0.1 : 0.3;
        const vals = randn(v.size, 100 * ci + i + 1, scale).map((x) => (name === 'threshold' ? 0.25 + Math.abs(x) : x));
        v.assign(tf.tensor(vals, v.shape));
      });
      const xVals = randn(B * D, 7 + ci, 1.5);
      const deadVals = Array.from({ length: S }, (_, j) => (c.dead && j % 5 < 2 ? 1 : 0));
      const x = tf.tensor2d(xVals, [B, D]);
      const ctx = { deadMask: tf.tensor1d(deadVals), step: 0, seed: 0 };
      const live = initialLive(cfg);
      const trainable = Object.values(p).filter((v) => v.trainable);
      let loss = 0;
      const { grads } = tf.variableGrads(() => {
        const parts = variant.loss(p, x, live, ctx);
        loss = parts.total.dataSync()[0];
        return parts.total;
      }, trainable);
      const byName: Record<string, { data: Float32Array; shape: number[] }> = {};
      for (const [name, v] of Object.entries(p)) if (grads[v.name]) byName[name] = { data: grads[v.name].dataSync() as Float32Array, shape: v.shape };
      engine.push({ loss, grads: byName });
      const params: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(p)) params[name] = nested(v.dataSync() as Float32Array, v.shape);
      return { variant: cfg.architecture, settings: c.settings, x: nested(xVals, [B, D]), dead: deadVals, params };
    });
    const r = spawnSync('python3', [SCRIPT, '--grads'], { input: JSON.stringify({ cases }), encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const native = (JSON.parse(r.stdout) as { cases: { loss: number; grads: Record<string, unknown> }[] }).cases;
    native.forEach((n, i) => {
      const arch = cases[i].variant;
      expect(Math.abs(n.loss - engine[i].loss) / Math.abs(n.loss), `${arch} loss`).toBeLessThan(1e-4);
      expect(Object.keys(n.grads).sort(), `${arch} parameters with a gradient`).toEqual(Object.keys(engine[i].grads).sort());
      for (const [name, g] of Object.entries(engine[i].grads)) {
        const want = (n.grads[name] as number[] | number[][]).flat();
        const scale = Math.max(...want.map(Math.abs), 1e-12);
        const err = Math.max(...want.map((w, j) => Math.abs(w - g.data[j]))) / scale;
        expect(err, `${arch} ∂${name}: max error relative to the largest entry`).toBeLessThan(2e-4);
      }
    });
  });
});
