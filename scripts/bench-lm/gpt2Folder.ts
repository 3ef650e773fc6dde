// A GPT-2-small-shaped Hugging Face folder with random weights for `npm run bench:lm -- --model
// gpt2`: config.json + model.safetensors (F32, the real GPT-2 key names without the
// "transformer." prefix, Conv1D weights [in, out]), made at bench time into a cache directory and
// reused while its description (bench-meta.json) matches. Never committed, never downloaded.
//
// Weights follow GPT2PreTrainedModel._init_weights: every matrix and the embeddings N(0, 0.02²)
// (the residual projections attn.c_proj and mlp.c_proj N(0, (0.02/√(2·n_layer))²)), biases 0,
// LayerNorm weights 1 and biases 0. The normals come from a seeded xoshiro128** generator through
// Box–Muller, streamed to the file in 1 Mi-value chunks: ~500 MB in a few seconds.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Gpt2Shape {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nPositions: number;
  vocabSize: number;
}

export const GPT2_SMALL: Gpt2Shape = { nEmbd: 768, nLayer: 12, nHead: 12, nPositions: 1024, vocabSize: 50257 };

/** Bump when the generator or the layout changes: a cached folder of another version is remade. */
const GENERATOR_VERSION = 1;

export interface Gpt2Folder {
  dir: string;
  files: { config: string; weights: string };
  bytes: number;
  parameters: number;
  /** Seconds spent writing the folder (0 when the cached one was reused). */
  generatedSeconds: number;
  reused: boolean;
  seed: number;
}

type Init = { kind: 'normal'; std: number } | { kind: 'const'; value: number };

interface TensorSpec {
  name: string;
  shape: number[];
  init: Init;
}

export function gpt2Config(s: Gpt2Shape): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_embd: s.nEmbd,
    n_layer: s.nLayer,
    n_head: s.nHead,
    n_positions: s.nPositions,
    n_ctx: s.nPositions,
    n_inner: null,
    vocab_size: s.vocabSize,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    bos_token_id: 50256,
    eos_token_id: 50256,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
}

function tensorSpecs(s: Gpt2Shape): TensorSpec[] {
  const D = s.nEmbd, F = 4 * D;
  const w: Init = { kind: 'normal', std: 0.02 };
  const proj: Init = { kind: 'normal', std: 0.02 / Math.sqrt(2 * s.nLayer) };
  const zero: Init = { kind: 'const', value: 0 };
  const one: Init = { kind: 'const', value: 1 };
  const out: TensorSpec[] = [
    { name: 'wte.weight', shape: [s.vocabSize, D], init: w },
    { name: 'wpe.weight', shape: [s.nPositions, D], init: w },
    { name: 'ln_f.weight', shape: [D], init: one },
    { name: 'ln_f.bias', shape: [D], init: zero },
  ];
  for (let l = 0; l < s.nLayer; l++) {
    const p = `h.${l}`;
    out.push(
      { name: `${p}.ln_1.weight`, shape: [D], init: one },
      { name: `${p}.ln_1.bias`, shape: [D], init: zero },
      { name: `${p}.attn.c_attn.weight`, shape: [D, 3 * D], init: w },
      { name: `${p}.attn.c_attn.bias`, shape: [3 * D], init: zero },
      { name: `${p}.attn.c_proj.weight`, shape: [D, D], init: proj },
      { name: `${p}.attn.c_proj.bias`, shape: [D], init: zero },
      { name: `${p}.ln_2.weight`, shape: [D], init: one },
      { name: `${p}.ln_2.bias`, shape: [D], init: zero },
      { name: `${p}.mlp.c_fc.weight`, shape: [D, F], init: w },
      { name: `${p}.mlp.c_fc.bias`, shape: [F], init: zero },
      { name: `${p}.mlp.c_proj.weight`, shape: [F, D], init: proj },
      { name: `${p}.mlp.c_proj.bias`, shape: [D], init: zero },
    );
  }
  return out;
}

/** xoshiro128** (Blackman & Vigna), seeded through splitmix32; uint32 outputs. */
function xoshiro128(seed: number): () => number {
  let x = seed >>> 0;
  const split = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    return r;
  };
}

const rotl = (v: number, k: number) => (v << k) | (v >>> (32 - k));

/** Fill `out` with N(0, std²) values (Box–Muller, two per pair of uniforms). */
function fillNormal(out: Float32Array, next: () => number, std: number): void {
  const n = out.length;
  const INV = 1 / 4294967296;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const u1 = (next() + 1) * INV; // (0, 1]
    const u2 = next() * INV;
    const r = std * Math.sqrt(-2 * Math.log(u1));
    const t = 2 * Math.PI * u2;
    out[i] = r * Math.cos(t);
    out[i + 1] = r * Math.sin(t);
  }
  if (i < n) out[i] = std * Math.sqrt(-2 * Math.log((next() + 1) * INV)) * Math.cos(2 * Math.PI * next() * INV);
}

/** The folder in `dir` for `shape` and `seed`: the cached one when its description matches, else written anew. */
export async function ensureGpt2Folder(dir: string, shape: Gpt2Shape = GPT2_SMALL, seed = 1234): Promise<Gpt2Folder> {
  const config = gpt2Config(shape);
  const specs = tensorSpecs(shape);
  const names = specs.map((t) => t.name).sort();
  const byName = new Map(specs.map((t) => [t.name, t]));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'random GPT-2-small-shaped weights for npm run bench:lm' } };
  let offset = 0;
  for (const name of names) {
    const t = byName.get(name)!;
    const bytes = 4 * t.shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const total = 8 + headerBytes.length + offset;
  const parameters = offset / 4;

  const files = { config: path.join(dir, 'config.json'), weights: path.join(dir, 'model.safetensors') };
  const metaPath = path.join(dir, 'bench-meta.json');
  const meta = JSON.stringify({ generator: GENERATOR_VERSION, seed, shape, config, bytes: total }, null, 2);
  if (existsSync(metaPath) && existsSync(files.weights) && existsSync(files.config)
    && readFileSync(metaPath, 'utf8') === meta && statSync(files.weights).size === total) {
    return { dir, files, bytes: total, parameters, generatedSeconds: 0, reused: true, seed };
  }

  const t0 = performance.now();
  await mkdir(dir, { recursive: true });
  rmSync(metaPath, { force: true });
  const tmp = `${files.weights}.partial`;
  const fd = openSync(tmp, 'w');
  try {
    const lead = new Uint8Array(8);
    new DataView(lead.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    writeSync(fd, lead);
    writeSync(fd, headerBytes);
    const chunk = new Float32Array(1 << 20);
    const chunkBytes = new Uint8Array(chunk.buffer);
    const next = xoshiro128(seed);
    for (const name of names) {
      const t = byName.get(name)!;
      let left = t.shape.reduce((a, b) => a * b, 1);
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        const view = chunk.subarray(0, n);
        if (t.init.kind === 'normal') fillNormal(view, next, t.init.std);
        else view.fill(t.init.value);
        let written = 0;
        while (written < 4 * n) written += writeSync(fd, chunkBytes, written, 4 * n - written);
        left -= n;
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, files.weights);
  await writeFile(files.config, JSON.stringify(config, null, 2));
  await writeFile(metaPath, meta);
  return { dir, files, bytes: total, parameters, generatedSeconds: (performance.now() - t0) / 1000, reused: false, seed };
}
