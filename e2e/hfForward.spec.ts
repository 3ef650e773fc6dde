// The Hugging Face model forward in the page, on the backends a browser runs it on: the five
// fixture folders (fixtures/hf: GPT-2, GPT-2 with the "transformer." prefix in F16, Pythia with its
// parallel residual and partial rotary, Llama with grouped-query attention, Qwen2 in BF16 shards)
// go to lm-check.html (src/bench/lmCheck.ts), which runs each through src/io/hfModel.ts and the
// engine's transformer on the asked backend and compares every TransformerLens hook and the logits
// with the fixture's independent NumPy reference (reference.safetensors) — the browser side of
// src/engine/lm/hfModels.test.ts (cpu and wasm in Node). webgl (SwiftShader here) and webgpu (a
// software adapter here) must run: the page never falls back, so a missing backend fails here.
// wasm is the control. The worst figures are printed for the notes.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import type { LmCheckFixture, LmCheckReport } from '../src/bench/lmCheck';

const HF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/hf');
const FIXTURES = ['tiny-gpt2', 'tiny-gpt2-prefixed', 'tiny-pythia', 'tiny-llama', 'tiny-qwen2-sharded'];
const TOLERANCE = 1e-4;

/** config.json, the weights (and the shard index) and reference.safetensors of each folder, in base64. */
function fixtures(): LmCheckFixture[] {
  return FIXTURES.map((name) => {
    const dir = path.join(HF, name);
    const wanted = readdirSync(dir).filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f === 'model.safetensors.index.json');
    return { name, files: Object.fromEntries(wanted.map((f) => [f, readFileSync(path.join(dir, f)).toString('base64')])) };
  });
}

async function openCheckPage(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Error while parsing WGSL|Invalid ShaderModule|Failed to compile/.test(m.text())) errors.push(m.text()); });
  await page.goto('/lm-check.html');
  await page.waitForFunction(() => typeof window.saeLmCheck === 'function', null, { timeout: 60_000 });
  return errors;
}

const fmt = (v: number) => v.toExponential(2);

for (const backend of ['webgl', 'webgpu', 'wasm'] as const) {
  test(`Hugging Face folders on ${backend} in the page: every hook and the logits match the NumPy reference within 1e-4, no leaks`, async ({ page }) => {
    test.setTimeout(120_000);
    const errors = await openCheckPage(page);
    const t0 = Date.now();
    const report: LmCheckReport = await page.evaluate(([b, f]) => window.saeLmCheck(b, f), [backend, fixtures()] as const);
    const wall = Date.now() - t0;

    // Print first, so the figures are there even when an assertion below fails.
    const lines = [`[hfForward] ${backend} (${report.backend}; ${report.device}${report.float32 === undefined ? '' : `; float32 textures ${report.float32}`}) in ${wall} ms`];
    for (const r of report.results) {
      const entries = Object.entries(r.worst);
      const [hook, worst] = entries.filter(([k]) => k !== 'logits').reduce((a, e) => (e[1] > a[1] ? e : a), ['-', 0]);
      lines.push(`  ${r.name.padEnd(20)} worst hook ${fmt(worst)} (${hook}, |ref| ≤ ${(r.scale[hook] ?? 0).toFixed(2)}), logits ${fmt(r.worst.logits ?? NaN)} (|ref| ≤ ${(r.scale.logits ?? 0).toFixed(2)}), ${entries.length - 1} hooks, attention ${r.attention}, tensors ${r.tensorsBefore} → ${r.tensorsAfter}, ${r.ms} ms${r.error ? `, ERROR ${r.error.split('\n')[0]}` : ''}`);
    }
    console.log(lines.join('\n'));

    expect(report.error ?? null, `the checks must run on ${backend}`).toBeNull();
    expect(report.backend).toBe(backend);
    expect(errors).toEqual([]);
    expect(report.results.map((r) => r.name)).toEqual(FIXTURES);

    const over: string[] = [];
    for (const r of report.results) {
      expect(r.error ?? null, r.name).toBeNull();
      expect(r.missing, `${r.name}: reference hooks without a value`).toEqual([]);
      expect(r.nonFinite, `${r.name}: non-finite values`).toEqual([]);
      // Every hook of every block (resid_mid only in sequential blocks) and the logits were compared.
      expect(Object.keys(r.worst).filter((k) => k.startsWith('blocks.')).length, r.name).toBe(r.nLayers * (r.parallelResidual ? 4 : 5));
      expect(r.worst.logits, `${r.name}: logits compared`).toBeDefined();
      expect(r.attention, r.name).toBe(backend === 'wasm' ? 'per_head' : 'batched');
      expect(r.tensorsAfter, `${r.name}: tensors leaked`).toBe(r.tensorsBefore);
      for (const [key, worst] of Object.entries(r.worst)) if (!(worst < TOLERANCE)) over.push(`${r.name} ${key}: ${worst}`);
    }
    expect(over, `beyond ${TOLERANCE} on ${backend}`).toEqual([]);
  });
}
