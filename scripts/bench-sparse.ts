// Where the sparse step stops paying (`npm run bench:sparse`): the JumpReLU, ReLU and Gated training steps
// (src/engine/variants/sparseLinear.ts) timed sparse and dense on Node wasm at a given size
// (default 768 / 24,576, batch 1,024) over a range of active fractions, the fraction set through
// the data: the rows are N(0, I) and the initial encoder columns unit vectors, so z ~ N(0, 1) and a
// threshold (JumpReLU θ, a ReLU's b_enc = −t, a Gated SAE's b_gate = −t) of t = Φ⁻¹(1 − p) leaves a
// fraction p active. The
// dense step's time does not depend on p. Prints a Markdown table and the crossing, the figure
// JUMPRELU_SPARSE_MAX_ACTIVE, RELU_SPARSE_MAX_ACTIVE and GATED_SPARSE_MAX_ACTIVE (src/engine/variants/)
// are set from.
// Not a test: it asserts nothing.
//
//   npm run bench:sparse [-- --d-in 768 --d-sae 24576 --batch 1024 --threads 2 --variants jumprelu,relu,gated]
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { useNodeWasmThreads, nodeCores } from '../src/cli/nodeBackend';
import { Adam } from '../src/engine/adam';
import { initialLive, resolveConfig } from '../src/engine/config';
import { createRng } from '../src/engine/rng';
import { trainStep, type StepState } from '../src/engine/trainStep';
import { variantFor } from '../src/engine/variants/registry';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : fallback; };
const dIn = arg('d-in', 768), dSae = arg('d-sae', 24_576), batch = arg('batch', 1024), threads = arg('threads', nodeCores());
type Timed = 'jumprelu' | 'relu' | 'gated';
const variantsArg = args.indexOf('--variants');
const VARIANTS = (variantsArg >= 0 ? args[variantsArg + 1].split(',') : ['jumprelu', 'relu', 'gated']) as Timed[];
const FRACTIONS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3];

/** Φ⁻¹(q) by bisection on the error function's series-free form (precise enough for a threshold). */
function normalQuantile(q: number): number {
  const cdf = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
  let lo = -10, hi = 10;
  for (let i = 0; i < 100; i++) { const mid = (lo + hi) / 2; if (cdf(mid) < q) lo = mid; else hi = mid; }
  return (lo + hi) / 2;
}
function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** Median ms of `steps` timed steps (after one warm-up) and the active fraction the steps saw. */
function time(architecture: Timed, fraction: number, sparse: boolean, steps = 2): { ms: number; active: number; sparseSteps: number } {
  const cfg = resolveConfig({ architecture, d_sae: dSae, batch_size: batch, sparse: sparse ? 'auto' : 'off', ...(architecture === 'jumprelu' ? { init_threshold: 0.05 } : {}) }, dIn);
  const variant = variantFor(cfg);
  const rng = createRng(1);
  const rows = new Float32Array(batch * dIn);
  for (let i = 0; i < rows.length; i++) rows[i] = rng.normal();
  const p = variant.init(cfg, { dIn, nLayers: 1, mean: new Float32Array(dIn), meanNorm: 1 }, createRng(2));
  const t = normalQuantile(1 - fraction);
  if (architecture === 'jumprelu') p.threshold.assign(tf.fill([dSae], t));
  else if (architecture === 'gated') p.b_gate.assign(tf.fill([dSae], -t));
  else p.b_enc.assign(tf.fill([dSae], -t));
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  // lr 0: every step sees the same parameters, so every step has the same active fraction.
  const live = { ...initialLive(cfg), lr: 0 };
  const state: StepState = { cfg, variant, params: p, adam, tokensSinceFired: tf.variable(tf.zeros([dSae]), false), firedSinceLog: tf.variable(tf.zeros([dSae]), false), guidance: [], step: 0, live, activeFraction: sparse ? 0 : undefined };
  const rowIds = Uint32Array.from({ length: batch }, (_, i) => i);
  const ms: number[] = [];
  let sparseSteps = 0;
  for (let s = 0; s <= steps; s++) {
    if (sparse) state.activeFraction = 0; // take the sparse step whatever the last fraction was
    const t0 = performance.now();
    const out = trainStep(state, rows, dIn, rowIds, undefined, false);
    if (s > 0) { ms.push(performance.now() - t0); if (out.sparse) sparseSteps++; }
  }
  const active = tf.tidy(() => {
    const z = tf.add(tf.matMul(tf.sub(tf.tensor2d(rows, [batch, dIn]), p.b_dec), p.W_enc), architecture === 'gated' ? p.b_gate : p.b_enc);
    const above = architecture === 'jumprelu' ? tf.step(tf.sub(z, p.threshold)) : tf.step(z);
    return tf.mean(above).dataSync()[0];
  });
  tf.dispose([...Object.values(p), state.tokensSinceFired, state.firedSinceLog]);
  adam.dispose();
  return { ms: ms.sort((a, b) => a - b)[ms.length >> 1], active, sparseSteps };
}

useNodeWasmThreads(threads);
await tf.setBackend('wasm');
await tf.ready();
console.log(`Sparse vs dense training steps, Node wasm (${threads} threads), d_in ${dIn}, d_sae ${dSae}, batch ${batch}; one warm-up and 2 timed steps each.\n`);
for (const architecture of VARIANTS) {
  const dense = time(architecture, 0.05, false);
  console.log(`| ${architecture} active fraction | sparse ms/step | dense ms/step | sparse ÷ dense time |`);
  console.log('| ---: | ---: | ---: | ---: |');
  let crossing: number | undefined;
  let slower = false;
  for (const f of FRACTIONS) {
    const s = time(architecture, f, true);
    const ratio = s.ms / dense.ms;
    // The crossing: the last fraction before the sparse step is first slower.
    if (ratio >= 1) slower = true;
    else if (!slower) crossing = s.active;
    console.log(`| ${(100 * s.active).toFixed(2)}% | ${s.ms.toFixed(0)}${s.sparseSteps < 2 ? ' (not sparse)' : ''} | ${dense.ms.toFixed(0)} | ${ratio.toFixed(2)} |`);
  }
  console.log(`\n${architecture}: the sparse step is faster up to an active fraction of ${crossing === undefined ? 'none measured' : `${(100 * crossing).toFixed(1)}%`}.\n`);
}
