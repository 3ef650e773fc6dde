// Hugging Face model folders (fixtures/hf, written by scripts/make_hf_fixtures.py) through
// src/io/hfModel.ts and the engine's transformer, against the hidden states the fixture script's
// NumPy forward computed from the Hugging Face modeling code (reference.safetensors): every
// TransformerLens hook of every block, the final norm's logits, on the cpu and wasm backends. Also
// the folder errors (missing shard, missing tensor, wrong shape, unknown model_type, truncated file).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { HfModelError, parseHfModel } from '../../io/hfModel';
import { readSafetensors, writeSafetensors } from '../../io/safetensors';
import { centreWritingWeights } from '../../io/transformerWeights';
import { useCpu, useWasm } from '../testing';
import { siteName } from './hooks';
import { TransformerModel } from './transformer';

const ROOT = join(__dirname, '../../../fixtures/hf');

function folder(name: string): Map<string, Uint8Array> {
  const dir = join(ROOT, name);
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

function reference(name: string) {
  const bytes = readFileSync(join(ROOT, name, 'reference.safetensors'));
  // Tokens are I32, which the float reader refuses: read the header for them by hand.
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString());
  const t = header.tokens as { shape: number[]; data_offsets: [number, number] };
  const tokens = new Int32Array(bytes.buffer.slice(bytes.byteOffset + 8 + len + t.data_offsets[0], bytes.byteOffset + 8 + len + t.data_offsets[1]));
  delete header.tokens;
  const floatsOnly = stripTensor(bytes, 'tokens');
  const { tensors } = readSafetensors(floatsOnly.buffer as ArrayBuffer, `${name}/reference.safetensors`);
  return { tokens, B: t.shape[0], T: t.shape[1], tensors };
}

/** The safetensors file without one tensor (rewritten through our writer: F32 tensors only). */
function stripTensor(bytes: Buffer, drop: string): Uint8Array {
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString());
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, e] of Object.entries(header as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>)) {
    if (k === '__metadata__' || k === drop) continue;
    const start = bytes.byteOffset + 8 + len + e.data_offsets[0];
    out[k] = { shape: e.shape, data: new Float32Array(bytes.buffer.slice(start, start + e.data_offsets[1] - e.data_offsets[0])) };
  }
  return writeSafetensors(out);
}

const FIXTURES = ['tiny-gpt2', 'tiny-gpt2-prefixed', 'tiny-pythia', 'tiny-llama', 'tiny-qwen2-sharded'];

function worstOver(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`Hugging Face folders on ${backend} against the NumPy reference`, () => {
    afterAll(useCpu);
    for (const name of FIXTURES) {
      it(`${name}: every hook and the logits within 1e-4`, async () => {
        await (backend === 'wasm' ? useWasm() : useCpu());
        const hf = parseHfModel(folder(name), name);
        const model = new TransformerModel(hf.weights);
        const ref = reference(name);
        const L = model.config.nLayers;
        const before = tf.memory().numTensors;
        const sites = model.sites();
        const out = model.forward(ref.tokens, ref.B, ref.T, { capture: sites });
        const worst: Record<string, number> = {};
        const compare = (key: string, t: tf.Tensor) => {
          const expected = ref.tensors[key];
          expect(expected, `reference has ${key}`).toBeDefined();
          worst[key] = worstOver(t.dataSync() as Float32Array, expected.data);
        };
        // Every site under its TransformerLens name, and resid_post of each block (= the next resid_pre).
        for (const site of sites) compare(siteName(site, L), out.captured.get(site)!);
        for (let l = 0; l < L - 1; l++) compare(`blocks.${l}.hook_resid_post`, out.captured.get(l + 1)!);
        compare('logits', out.logits!);
        tf.dispose([out.logits!, ...out.captured.values()]);
        expect(tf.memory().numTensors).toBe(before);
        model.dispose();
        // Every hook the reference holds was compared (and no resid_mid exists where it should not).
        const refHooks = Object.keys(ref.tensors).filter((k) => k.startsWith('blocks.'));
        expect(Object.keys(worst).filter((k) => k !== 'logits').sort()).toEqual(refHooks.sort());
        expect(refHooks.length).toBe(L * (hf.weights.arch.parallelResidual ? 4 : 5));
        for (const [key, w] of Object.entries(worst)) expect(w, `${name} ${key}`).toBeLessThan(1e-4);
      });
    }
  });
}

describe('center_writing_weights (TransformerLens) on the LayerNorm families', () => {
  for (const name of ['tiny-gpt2', 'tiny-pythia']) {
    it(`${name}: every site is the reference minus its mean across d_model; the logits do not change`, async () => {
      await useCpu();
      const hf = parseHfModel(folder(name), name);
      const model = new TransformerModel(centreWritingWeights(hf.weights));
      const ref = reference(name);
      const D = model.config.dim;
      const sites = model.sites();
      const out = model.forward(ref.tokens, ref.B, ref.T, { capture: sites });
      let worst = 0, largestMean = 0;
      for (const site of sites) {
        const got = out.captured.get(site)!.dataSync();
        const want = ref.tensors[siteName(site, model.config.nLayers)].data;
        for (let r = 0; r < want.length / D; r++) {
          let mean = 0;
          for (let j = 0; j < D; j++) mean += want[r * D + j] / D;
          largestMean = Math.max(largestMean, Math.abs(mean));
          for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(got[r * D + j] - (want[r * D + j] - mean)));
        }
      }
      expect(worst).toBeLessThan(1e-4);
      // The means removed are not negligible (else the check above would say nothing).
      expect(largestMean).toBeGreaterThan(0.05);
      expect(worstOver(out.logits!.dataSync() as Float32Array, ref.tensors.logits.data)).toBeLessThan(1e-4);
      tf.dispose([out.logits!, ...out.captured.values()]);
      model.dispose();
    });
  }

  it('is refused for RMSNorm models, which do not remove the mean', () => {
    expect(() => centreWritingWeights(parseHfModel(folder('tiny-llama')).weights)).toThrow(/center_writing_weights needs a LayerNorm model; llama uses RMSNorm/);
  });
});

describe('what the folders hold', () => {
  it('reads the families, dtypes and shards as stored', () => {
    const cases: [string, Partial<{ family: string; modelType: string; norm: string; mlp: string; parallelResidual: boolean; nKvHeads: number }>, string[], number][] = [
      ['tiny-gpt2', { family: 'gpt2', norm: 'layernorm', mlp: 'gelu_tanh', parallelResidual: false }, ['F32'], 1],
      ['tiny-gpt2-prefixed', { family: 'gpt2' }, ['F16'], 1],
      ['tiny-pythia', { family: 'gpt_neox', mlp: 'gelu', parallelResidual: true }, ['F32'], 1],
      ['tiny-llama', { family: 'llama', modelType: 'llama', norm: 'rmsnorm', mlp: 'swiglu', nKvHeads: 2 }, ['F32'], 1],
      ['tiny-qwen2-sharded', { family: 'llama', modelType: 'qwen2' }, ['BF16'], 2],
    ];
    for (const [name, arch, dtypes, files] of cases) {
      const hf = parseHfModel(folder(name), name);
      expect(hf.weights.arch).toMatchObject(arch);
      expect(hf.dtypes).toEqual(dtypes);
      expect(hf.files.length).toBe(files);
    }
    const pythia = parseHfModel(folder('tiny-pythia'));
    // rotary_pct 0.25 of head size 8 → 2 turning dimensions.
    expect(pythia.weights.arch.rotary).toEqual({ dims: 2, theta: 10000, layout: 'half' });
    // GPT-2 ties its unembedding: the parameters count the embedding once (124,439,808 for gpt2 itself).
    const gpt2 = parseHfModel(folder('tiny-gpt2'));
    const D = 32, V = 357, P = 64, F = 128, L = 2;
    expect(gpt2.parameters).toBe(V * D + P * D + L * (4 * D + (D * 3 * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D)) + 2 * D);
  });

  const broken = (name: string, edit: (files: Map<string, Uint8Array>) => void) => {
    const files = folder(name);
    edit(files);
    try {
      parseHfModel(files, name);
    } catch (e) {
      expect(e).toBeInstanceOf(HfModelError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  it('names the missing shard, tensor, wrong shape, unknown family and truncated file', () => {
    expect(broken('tiny-qwen2-sharded', (f) => f.delete('model-00002-of-00002.safetensors'))).toMatch(/model-00002-of-00002\.safetensors is missing: model\.safetensors\.index\.json lists it for \d+ tensors/);
    expect(broken('tiny-llama', (f) => f.delete('model.safetensors'))).toMatch(/has no model\.safetensors/);
    expect(broken('tiny-llama', (f) => f.delete('config.json'))).toMatch(/has no config\.json/);
    const cfg = (change: (c: Record<string, unknown>) => void) => (f: Map<string, Uint8Array>) => {
      const c = JSON.parse(new TextDecoder().decode(f.get('config.json')));
      change(c);
      f.set('config.json', new TextEncoder().encode(JSON.stringify(c)));
    };
    expect(broken('tiny-llama', cfg((c) => { c.model_type = 'gemma'; }))).toMatch(/is a gemma model; the workbench runs gpt2, gpt_neox, llama, qwen2, mistral/);
    expect(broken('tiny-llama', cfg((c) => { c.num_hidden_layers = 3; }))).toMatch(/has no tensor model\.layers\.2\.input_layernorm\.weight, which a llama model with width 32, 3 layers/);
    expect(broken('tiny-llama', cfg((c) => { c.intermediate_size = 48; }))).toMatch(/model\.safetensors: tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[64, 32\], but .* needs \[48, 32\]/);
    expect(broken('tiny-llama', cfg((c) => { c.rope_scaling = { rope_type: 'llama3', factor: 8 }; }))).toMatch(/rope_scaling "llama3" is not supported yet/);
    expect(broken('tiny-gpt2', (f) => { const b = f.get('model.safetensors')!; f.set('model.safetensors', b.subarray(0, b.length - 100)); })).toMatch(/model\.safetensors: tensor .* truncated or damaged/);
    expect(broken('tiny-gpt2', (f) => f.set('config.json', new TextEncoder().encode('{"model_type": ')))).toMatch(/config\.json is not valid JSON/);
  });
});
