// The memory estimate shown before training (src/engine/memoryBudget.ts) against what a run really
// takes on wasm in Node (`npm run measure:memory`): each case trains a few steps in a process of
// its own, as the worker does (a rollback copy and an autosave read on the way), and reports
// wasm's memory — its heap only grows, so its size after the steps is the run's high-water mark —
// beside tf.profile's tensor peak and the estimate. Prints a Markdown table. Not a test: it
// asserts nothing (memoryBudget.wasm.test.ts checks the tensor part at a smaller size).
//
//   npm run measure:memory [-- --cases topk:32768:1024,relu:16384:1024 --d-in 768]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const MiB = 2 ** 20;

interface Measured { architecture: string; dSae: number; batch: number; dIn: number; sparseSteps: number; steps: number; estimate: number; estimateTensors: number; tensorPeak: number; heap: number }

async function one(architecture: string, dSae: number, batch: number, dIn: number): Promise<Measured> {
  const tf = await import('@tensorflow/tfjs');
  const { selectNodeBackend } = await import('../src/cli/nodeBackend');
  const { resolveConfig } = await import('../src/engine/config');
  const { Trainer } = await import('../src/engine/trainer');
  const { estimateTrainingMemory } = await import('../src/engine/memoryBudget');
  await selectNodeBackend('wasm');
  const backend = tf.backend() as unknown as { wasm: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } } };
  const memory = backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
  if (!memory) throw new Error('tfjs-backend-wasm exposes no memory');
  const rows = 4096;
  // Uniform values in [-1, 1): what the rows hold does not change what is allocated.
  const uniform = (n: number, seed: number) => { const a = new Float32Array(n); let s = seed; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = (s / 2 ** 32 - 0.5) * 2; } return a; };
  // A one-token dead window: latents that missed a step are dead, so TopK's AuxK runs (the worst case).
  const cfg = resolveConfig({ architecture, d_sae: dSae, batch_size: batch, k: 32, log_every: 1, steps: 100, dead_tokens_window: 1 }, dIn);
  const before = tf.memory().numBytes;
  const t = new Trainer(cfg, { train: uniform(rows * dIn, 1), trainRows: rows, val: uniform(256 * dIn, 2), valRows: 256, dIn }, 'wasm');
  t.goodSnapshotSeconds = 0; // a rollback copy at every (log) step
  await t.runSteps(2);
  const profile = await tf.profile(async () => { await t.runSteps(1); await t.saveState(); await t.runSteps(2); });
  const est = estimateTrainingMemory(cfg, dIn, { backend: 'wasm' });
  const out = { architecture, dSae, batch, dIn, sparseSteps: t.sparseSteps, steps: t.stepCount, estimate: est.bytes, estimateTensors: est.bytes - est.parts.allocator, tensorPeak: profile.peakBytes - before, heap: memory.buffer.byteLength };
  t.dispose();
  return out;
}

if (args[0] === '--one') {
  const [architecture, dSae, batch, dIn] = args.slice(1);
  process.stdout.write(`${JSON.stringify(await one(architecture, Number(dSae), Number(batch), Number(dIn)))}\n`);
  process.exit(0);
}

const dIn = Number(arg('d-in', '768'));
const cases = arg('cases', 'topk:16384:1024,topk:32768:1024,topk:16384:4096,batchtopk:32768:1024,matryoshka:32768:1024,relu:16384:1024,jumprelu:16384:1024,gated:16384:512,relu:32768:512')
  .split(',').map((c) => c.split(':')).map(([a, s, b]) => ({ architecture: a, dSae: Number(s), batch: Number(b) }));
const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
const self = fileURLToPath(import.meta.url);
const mib = (b: number) => Math.round(b / MiB).toLocaleString('en-US');
const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${((100 * (a - b)) / b).toFixed(1)} %`;
console.log(`wasm memory in Node at d_in ${dIn} (a process per case; rollback copy every step, one autosave read)\n`);
console.log('| variant | d_sae | batch | step | estimate | wasm memory | estimate vs memory | tensor peak | estimated tensors vs peak |');
console.log('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
for (const c of cases) {
  const text = execFileSync(tsx, [self, '--one', c.architecture, String(c.dSae), String(c.batch), String(dIn)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const m = JSON.parse(text.trim().split('\n').pop()!) as Measured;
  const step = m.sparseSteps === m.steps ? 'sparse' : m.sparseSteps === 0 ? 'dense' : `${m.sparseSteps} of ${m.steps} sparse`;
  console.log(`| ${m.architecture} | ${m.dSae.toLocaleString('en-US')} | ${m.batch.toLocaleString('en-US')} | ${step} | ${mib(m.estimate)} MiB | ${mib(m.heap)} MiB | ${pct(m.estimate, m.heap)} | ${mib(m.tensorPeak)} MiB | ${pct(m.estimateTensors, m.tensorPeak)} |`);
}
