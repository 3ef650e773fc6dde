// The CLI's --backend webgpu and --backend auto (src/cli/backendChoice.ts) on Dawn over the
// machine's Vulkan driver (Mesa's software Vulkan here and in CI): train, eval and activations give
// what wasm gives, the adapter is printed, auto prints what it timed, and a machine without a
// Vulkan driver is told what to install (a child process with Vulkan pointed at no driver).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNpy, writeNpy } from '../io/npy';
import { readSafetensors } from '../io/safetensors';
import { nodeWebGPUUnavailable, relativeDifference } from '../engine/testing';
import { main } from './main';
import { captureOutput } from './testing';

const unavailable = await nodeWebGPUUnavailable();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GPT2 = path.join(ROOT, 'fixtures/hf/tiny-gpt2');
const dir = mkdtempSync(path.join(tmpdir(), 'saewb-webgpu-'));
const acts = path.join(dir, 'acts.npy');
writeFileSync(acts, writeNpy(Float32Array.from({ length: 600 * 16 }, (_, i) => Math.sin(i * 0.37) + ((i * 11) % 7) / 7), [600, 16]));
const cfg = path.join(dir, 'cfg.json');
writeFileSync(cfg, JSON.stringify({ architecture: 'topk', d_sae: 64, k: 4, batch_size: 64 }));
const text = path.join(dir, 'text.txt');
writeFileSync(text, Array.from({ length: 6 }, (_, i) => `Story ${i}: the little robot counted the stars, then it slept on the grass by the river.`).join('\n'));

const run = async (args: string[]) => {
  const c = captureOutput();
  const code = await main(args);
  return { code, ...c.done() };
};
const file = (f: string) => { const b = readFileSync(f); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer; };

describe.skipIf(unavailable !== null)('the CLI on webgpu in Node', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });

  it('train and eval on webgpu print the adapter and give wasm\'s weights and metrics', async () => {
    const runs: Record<string, { err: string; weights: Record<string, Float32Array>; evaluation: Record<string, number> }> = {};
    for (const backend of ['wasm', 'webgpu']) {
      const out = path.join(dir, `run-${backend}`);
      const trained = await run(['train', '--data', acts, '--config', cfg, '--out', out, '--steps', '40', '--seed', '2', '--backend', backend, '--threads', '1']);
      expect(trained.code, trained.err).toBe(0);
      expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')).backend).toBe(backend);
      const { tensors } = readSafetensors(file(path.join(out, 'sae_weights.safetensors')));
      const evaluated = await run(['eval', '--sae', out, '--data', acts, '--backend', backend, '--threads', '1']);
      expect(evaluated.code, evaluated.err).toBe(0);
      runs[backend] = { err: trained.err + evaluated.err, weights: Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.data as Float32Array])), evaluation: JSON.parse(evaluated.out) };
    }
    // The adapter, named for what it is (here a software one), in both commands, and in their JSON.
    const printed = runs.webgpu.err.match(/^backend: webgpu on (.+)$/gm)!;
    expect(printed.length).toBe(2);
    expect(runs.webgpu.evaluation.adapter).toBe(printed[1].slice('backend: webgpu on '.length));
    expect(JSON.parse(readFileSync(path.join(dir, 'run-webgpu', 'metrics.json'), 'utf8')).adapter).toBe(runs.webgpu.evaluation.adapter);
    expect(runs.wasm.evaluation).not.toHaveProperty('adapter');
    if (/llvmpipe|lavapipe|swiftshader/i.test(runs.webgpu.err)) expect(runs.webgpu.err).toContain('a software adapter on the CPU');
    // 40 TopK steps: float32 sums in another order, compounded (trainer.webgpu.test.ts).
    for (const name of Object.keys(runs.wasm.weights)) expect(relativeDifference(runs.webgpu.weights[name], runs.wasm.weights[name]), name).toBeLessThan(1e-3);
    for (const key of ['nmse', 'fve', 'l0']) expect(Math.abs(runs.webgpu.evaluation[key] - runs.wasm.evaluation[key]), key).toBeLessThan(1e-3);
    expect(runs.webgpu.evaluation.backend).toBe('webgpu');
  }, 180_000);

  it('activations on webgpu equal wasm\'s within 1e-4', async () => {
    const arrays: Record<string, Float32Array> = {};
    for (const backend of ['wasm', 'webgpu']) {
      const out = path.join(dir, `acts-${backend}`);
      const r = await run(['activations', '--lm', GPT2, '--text', text, '--hook', 'blocks.1.hook_resid_pre', '--out', out, '--backend', backend, '--threads', '1']);
      expect(r.code, r.err).toBe(0);
      arrays[backend] = parseNpy(file(path.join(out, 'activations.npy'))).data as Float32Array;
    }
    expect(arrays.webgpu.length).toBe(arrays.wasm.length);
    expect(relativeDifference(arrays.webgpu, arrays.wasm)).toBeLessThan(1e-4);
  }, 120_000);

  it('auto times the backends on the command\'s work, prints them and keeps the fastest', async () => {
    const r = await run(['train', '--data', acts, '--config', cfg, '--out', path.join(dir, 'auto'), '--steps', '10', '--backend', 'auto', '--threads', '1']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^auto: timing wasm, cpu, webgpu on a training step of topk d_in 16 → d_sae 64, batch 64$/m);
    expect(r.err).toMatch(/^auto: {3}wasm: [\d.]+ ms, [\d,]+ tokens\/s$/m);
    expect(r.err).toMatch(/^auto: {3}cpu: skipped — not measured: wasm runs on the same CPU, faster$/m);
    expect(r.err).toMatch(/^auto: {3}webgpu: /m);
    const chosen = /^auto: → (wasm|webgpu)/m.exec(r.err)?.[1];
    expect(chosen).toBeDefined();
    expect(JSON.parse(readFileSync(path.join(dir, 'auto', 'metrics.json'), 'utf8')).backend).toBe(chosen);

    const forward = await run(['activations', '--lm', GPT2, '--text', text, '--layer', '1', '--out', path.join(dir, 'acts-auto'), '--backend', 'auto', '--threads', '1']);
    expect(forward.code, forward.err).toBe(0);
    expect(forward.err).toMatch(/^auto: timing wasm, cpu, webgpu on the model's forward over 128 tokens$/m);
    expect(forward.err).toMatch(/^auto: → (wasm|webgpu)/m);
  }, 180_000);
});

// Vulkan's loader reads only the drivers VK_ICD_FILENAMES names: pointed at none, Dawn finds no
// adapter, as on a machine without a Vulkan driver. Needs no adapter itself.
describe('the CLI where Dawn finds no adapter', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/sae-workbench.js', ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VK_ICD_FILENAMES: path.join(dir, 'no-driver.json') },
  });

  it('--backend webgpu stops before reading the data, naming what to install', () => {
    const r = cli('train', '--data', acts, '--config', cfg, '--out', path.join(dir, 'no-gpu'), '--steps', '5', '--backend', 'webgpu');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: --backend webgpu: WebGPU found no adapter: VK_ICD_FILENAMES=.* is set, so the Vulkan loader tries only the driver files named there/);
    expect(r.stderr).toMatch(/NVIDIA driver with its Vulkan ICD/);
    expect(r.stderr).toMatch(/mesa-vulkan-drivers/);
    expect(r.stderr).toMatch(/leave --backend out to run on the CPU/);
    expect(r.stderr).not.toMatch(/^loaded acts\.npy/m);
  });

  it('--backend auto says webgpu is not available and trains on wasm', () => {
    const r = cli('train', '--data', acts, '--config', cfg, '--out', path.join(dir, 'no-gpu-auto'), '--steps', '5', '--backend', 'auto');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^auto: timing wasm, cpu on a training step of .* \(webgpu is not available: WebGPU found no adapter: .*\)$/m);
    expect(r.stderr).toMatch(/^auto: → wasm/m);
  });
});
