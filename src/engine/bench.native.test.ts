// The native reference of `npm run bench` (scripts/bench/native_step.py, NumPy) must compute the
// same step as the engine: its hand-written gradients are checked against finite differences
// (`--check`), and against the engine's own autodiff on the same small points (`--grads`).
// Skipped, with the reason in the test name, when python3 with numpy is not installed.
// Also the bench's handling of Node's webgpu (scripts/bench/options.ts, report.ts): asked for only by
// name, and its rows on a software adapter labelled correctness-only.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/bench/options';
import { backendLabel, formatReport, nodeWebgpuLines } from '../../scripts/bench/report';
import type { BenchOutcome, Row } from '../../scripts/bench/results';
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

describe("the bench's Node webgpu (scripts/bench)", () => {
  const backends = (...args: string[]) => { const o = parseArgs(args)!; return { node: o.node, chromium: o.chromium }; };

  it('runs Node webgpu only when asked for as node:webgpu', () => {
    expect(backends().node).toEqual(['wasm', 'cpu']);
    expect(backends('--node-only', '--backends', 'node:webgpu,node:wasm')).toEqual({ node: ['webgpu', 'wasm'], chromium: [] });
    // A plain name keeps its old meaning: Chromium's webgpu, not a software adapter in Node.
    expect(backends('--backends', 'webgpu,wasm')).toEqual({ node: ['wasm'], chromium: ['webgpu', 'wasm'] });
    expect(() => parseArgs(['--backends', 'node:webgl'])).toThrow(/webgl is not available in Node \(wasm, cpu, webgpu are\)/);
  });

  const adapter = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', fallback: true };
  const row: Row = {
    where: 'node', backend: 'webgpu', size: 'small', architecture: 'topk', dIn: 64, dSae: 2048, batch: 1024, tokensPerS: 2375, msPerStep: 431, steps: 3,
    numTensorsBefore: 28, numTensorsAfter: 28, info: { backend: 'webgpu', adapter: 'mesa / software / llvmpipe: Mesa 25.0.7', fallbackAdapter: true, kernelTimer: true },
  };

  it('labels rows on a software adapter correctness-only, and names the adapter', () => {
    expect(backendLabel(row)).toBe('webgpu on Dawn (software adapter: correctness only, not speed)');
    expect(backendLabel({ ...row, info: { ...row.info!, fallbackAdapter: false } })).toBe('webgpu on Dawn');
    const outcome: BenchOutcome = {
      opts: parseArgs(['--node-only', '--backends', 'node:webgpu'])!, date: '2026-12-06T00:00:00Z', seconds: 60, loadStart: '', loadEnd: '', loadAtStart: 0,
      chromiumVersion: '', chromiumEnv: null, native: null, wasmMatmul: null, chromiumWasmMatmul: null,
      nodeWebgpu: { adapter, label: 'mesa / software / llvmpipe: Mesa 25.0.7 (a software adapter on the CPU)' }, rows: [row], skips: [], scaling: null, responsiveness: null, notes: [],
    };
    const report = formatReport(outcome);
    expect(report).toContain('Node webgpu adapter (Dawn): mesa / software / llvmpipe: Mesa 25.0.7 (a software adapter on the CPU). Kernel timestamps available');
    expect(report).toContain("⚠ Node's webgpu rows ran on a software adapter (the CPU emulating a GPU): correctness only, not speed.");
    expect(report).toMatch(/\| small \(64\/2048\/1024\) \| topk \| node \| webgpu on Dawn \(software adapter: correctness only, not speed\) \| 2,375 \|/);
  });

  it('says why Node webgpu did not run when Dawn found no adapter', () => {
    expect(nodeWebgpuLines(null, undefined)).toEqual([]);
    expect(nodeWebgpuLines({ error: 'WebGPU found no adapter: no Vulkan driver is installed (no ICD file in /usr/share/vulkan/icd.d). On a GPU server install …' }, undefined))
      .toEqual(['Node webgpu (Dawn): not run — WebGPU found no adapter: no Vulkan driver is installed (no ICD file in /usr/share/vulkan/icd.d) (under Skipped: why, and the fix).']);
  });
});
