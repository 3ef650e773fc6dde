// The SAELens directory every architecture exports (buildRunExport), checked against what SAELens v6
// reads: sae_weights.safetensors through an independent minimal parser (and, when python3 + numpy
// exist, through Python's json + struct + numpy), cfg.json against SAELens's config dataclasses and
// loader, and sparsity.safetensors against log10(firing fraction + 1e-10).
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, SPARSITY_KIND, initialLive, layersUsed, resolveConfig, type Architecture, type SaeConfig } from '../engine/config';
import type { Normalization } from '../engine/normalize';
import { createRng } from '../engine/rng';
import { useCpu } from '../engine/testing';
import { variantFor } from '../engine/variants/registry';
import type { DataStats } from '../engine/variants/types';
import { buildRunExport } from '../run/runExport';

beforeAll(useCpu);

// ---- what SAELens v6 reads (jbloomAus/SAELens = decoderesearch/SAELens, v6.18.0, commit 91ca16cc) ----

/**
 * Fields of the inference config dataclasses SAE.load_from_disk builds from cfg.json:
 * sae_lens/saes/sae.py `class SAEConfig` (d_in, d_sae without defaults, so required; the rest have
 * defaults); sae_lens/saes/standard_sae.py `StandardSAEConfig`, jumprelu_sae.py `JumpReLUSAEConfig`,
 * gated_sae.py `GatedSAEConfig` add nothing; topk_sae.py `TopKSAEConfig` adds k (default 100) and
 * rescale_acts_by_decoder_norm. Registered inference architectures (sae_lens/__init__.py
 * register_sae_class): standard, gated, topk, jumprelu (+ transcoders). There is no inference
 * "batchtopk": BatchTopKTrainingSAEConfig.get_inference_config_class() is JumpReLUSAEConfig.
 */
const SAE_CONFIG_FIELDS = ['d_in', 'd_sae', 'dtype', 'device', 'apply_b_dec_to_input', 'normalize_activations', 'reshape_activations', 'metadata'];
const INFERENCE_FIELDS: Record<string, string[]> = {
  standard: SAE_CONFIG_FIELDS,
  jumprelu: SAE_CONFIG_FIELDS,
  gated: SAE_CONFIG_FIELDS,
  topk: [...SAE_CONFIG_FIELDS, 'k', 'rescale_acts_by_decoder_norm'],
};
/**
 * Keys cfg.json must have. d_in, d_sae: no dataclass default. architecture: SAE.load_from_disk →
 * SAEConfig.from_dict calls get_sae_class(config_dict["architecture"]). dtype:
 * sae_lens/loading/pretrained_sae_loaders.py read_sae_components_from_disk does
 * DTYPE_MAP[cfg_dict["dtype"]]. metadata.sae_lens_version: handle_config_defaulting (same file)
 * treats a cfg without it, or with a version < 6.0.0-rc.0, as the legacy format and rewrites it.
 * topk: k, since TopKSAEConfig's default of 100 would silently change the SAE.
 */
const REQUIRED = ['architecture', 'd_in', 'd_sae', 'dtype', 'metadata'];
/**
 * Unknown keys are not rejected: SAEConfig.from_dict passes cfg.json through
 * filter_valid_dataclass_fields (sae_lens/util.py), which keeps only the dataclass's field names,
 * and metadata becomes SAEMetadata(**metadata), which accepts any key. Values are checked:
 * SAEConfig.__post_init__ raises unless normalize_activations is one of these.
 */
const NORMALIZE_ACTIVATIONS = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];
const RESHAPE_ACTIVATIONS = ['none', 'hook_z'];
/** sae_lens/constants.py DTYPE_MAP keys. */
const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'torch.float32', 'torch.float64', 'torch.float16', 'torch.bfloat16'];
/**
 * Parameters of each SAELens SAE module. load_from_disk calls sae.load_state_dict(state_dict)
 * (strict), so the file must hold exactly these: SAE.initialize_weights (sae.py) makes W_enc, W_dec,
 * b_dec; StandardSAE / TopKSAE add b_enc; JumpReLUSAE adds b_enc and threshold; GatedSAE adds b_gate,
 * b_mag, r_mag and sets b_enc = None.
 */
const STATE_DICT: Record<string, string[]> = {
  standard: ['W_enc', 'W_dec', 'b_enc', 'b_dec'],
  topk: ['W_enc', 'W_dec', 'b_enc', 'b_dec'],
  jumprelu: ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold'],
  gated: ['W_enc', 'W_dec', 'b_dec', 'b_gate', 'b_mag', 'r_mag'],
};

/** The cfg.json architecture each workbench architecture must export as (README "Variants" table). */
const EXPORTED_AS: Record<Architecture, string> = {
  relu: 'standard', topk: 'topk', batchtopk: 'jumprelu', matryoshka: 'jumprelu', jumprelu: 'jumprelu', gated: 'gated',
  mlsae: 'topk', randomk: 'randomk', classic: 'classic', crosscoder: 'crosscoder', routesae: 'routesae',
};

// ---- an independent minimal safetensors reader (not src/io/safetensors.ts) ----------------------

interface RawTensor { dtype: string; shape: number[]; begin: number; end: number; values: Float32Array }

function parseSafetensors(bytes: Uint8Array): { headerLength: number; dataStart: number; tensors: Map<string, RawTensor> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, RawTensor>();
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = h.data_offsets;
    const values = new Float32Array((end - begin) / 4);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(dataStart + begin + 4 * i, true);
    tensors.set(name, { dtype: h.dtype, shape: h.shape, begin, end, values });
  }
  return { headerLength, dataStart, tensors };
}

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// ---- the exports under test ---------------------------------------------------------------------

const D_IN = 6;
const D_SAE = 20;
const THETA = 0.25;

interface Built {
  cfg: SaeConfig;
  engine: Record<string, { shape: number[]; data: Float32Array }>;
  files: Record<string, Uint8Array>;
  firing: Float32Array;
}

function build(architecture: Architecture, normalization?: Normalization): Built {
  const nLayers = MULTI_LAYER.includes(architecture) ? 4 : 1;
  const k = SPARSITY_KIND[architecture] === 'k' ? { k: 3 } : {};
  const cfg = resolveConfig({ architecture, d_sae: D_SAE, batch_size: 16, steps: 10, seed: 4, sparsity_mode: 'manual', ...k }, D_IN, nLayers);
  const variant = variantFor(cfg);
  const L = layersUsed(cfg);
  const stats: DataStats = { dIn: D_IN, nLayers: L, mean: Float32Array.from({ length: L * D_IN }, (_, i) => 0.1 * i - 0.2), meanNorm: 1.5 };
  const params = variant.init(cfg, stats, createRng(11));
  // BatchTopK / Matryoshka export their learned global threshold θ_g: give it a value to find.
  variant.loadState?.({ threshold: { shape: [D_SAE], data: new Float32Array(D_SAE).fill(THETA) } });
  const engine: Built['engine'] = {};
  const own = new Set(Object.values(params));
  for (const [name, t] of Object.entries(variant.exportTensors(params))) {
    engine[name] = { shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) };
    if (!own.has(t as tf.Variable)) t.dispose();
  }
  for (const p of Object.values(params)) p.dispose();
  variant.dispose?.();
  const firing = Float32Array.from({ length: D_SAE }, (_, i) => (i === 0 ? 0 : i === 1 ? 1 : 10 ** (-i / 4)));
  const files = buildRunExport({
    tensors: engine, saelens: variant.saelensConfig(cfg, initialLive(cfg)), dIn: D_IN, config: cfg, rows: [],
    firingFraction: firing, datasetName: 'acts.npy', normalization,
  });
  return { cfg, engine, files, firing };
}

let python: 'yes' | string = 'yes';
try {
  execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
} catch {
  python = 'python3 with numpy is absent';
  console.warn(`saelensCfg.test.ts: ${python}; the Python reading check is skipped.`);
}

describe.each(ARCHITECTURES.map((a) => [a]))('SAELens export of %s', (architecture) => {
  let before = 0;
  let built: Built;
  beforeAll(() => {
    before = tf.memory().numTensors;
    built = build(architecture);
  });
  afterAll(() => expect(tf.memory().numTensors).toBe(before));

  it('sae_weights.safetensors read by an independent parser: names, shapes, F32, values, contiguous sorted offsets, header padded to 8', () => {
    const bytes = built.files['sae_weights.safetensors'];
    const { headerLength, dataStart, tensors } = parseSafetensors(bytes);
    expect(headerLength % 8).toBe(0);
    expect(dataStart % 8).toBe(0);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(built.engine).sort());
    for (const [name, t] of tensors) {
      const e = built.engine[name];
      expect(t.dtype, name).toBe('F32');
      expect(t.shape, name).toEqual(e.shape);
      expect(t.end - t.begin, name).toBe(4 * product(e.shape));
      expect(Array.from(t.values), name).toEqual(Array.from(e.data));
    }
    const spans = [...tensors.values()].sort((a, b) => a.begin - b.begin);
    expect(spans[0].begin).toBe(0);
    for (let i = 1; i < spans.length; i++) expect(spans[i].begin).toBe(spans[i - 1].end);
    expect(spans[spans.length - 1].end).toBe(bytes.length - dataStart);
    // Sorted: data in name order, as safetensors writers lay it out.
    const byOffset = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin).map(([n]) => n);
    expect(byOffset).toEqual([...byOffset].sort());
  });

  it.skipIf(python !== 'yes')('sae_weights.safetensors read by Python (json + struct + numpy.frombuffer)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'saewb-st-'));
    const file = path.join(dir, 'sae_weights.safetensors');
    writeFileSync(file, built.files['sae_weights.safetensors']);
    const program = [
      'import json, struct, sys',
      'import numpy as np',
      'raw = open(sys.argv[1], "rb").read()',
      '(n,) = struct.unpack("<Q", raw[:8])',
      'header = json.loads(raw[8:8 + n])',
      'out = {}',
      'for name, h in header.items():',
      '    if name == "__metadata__": continue',
      '    b, e = h["data_offsets"]',
      '    a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(h["shape"])',
      '    out[name] = {"shape": list(a.shape), "dtype": h["dtype"], "sum": float(a.astype(np.float64).sum()), "first": float(a.flat[0]), "last": float(a.flat[-1])}',
      'print(json.dumps(out))',
    ].join('\n');
    const got = JSON.parse(execFileSync('python3', ['-c', program, file], { encoding: 'utf8' })) as Record<string, { shape: number[]; dtype: string; sum: number; first: number; last: number }>;
    expect(Object.keys(got).sort()).toEqual(Object.keys(built.engine).sort());
    for (const [name, e] of Object.entries(built.engine)) {
      const g = got[name];
      expect(g.shape, name).toEqual(e.shape);
      expect(g.dtype, name).toBe('F32');
      let sum = 0;
      for (const v of e.data) sum += v;
      expect(g.sum, name).toBeCloseTo(sum, 9);
      expect(g.first, name).toBe(e.data[0]);
      expect(g.last, name).toBe(e.data[e.data.length - 1]);
    }
  });

  it('cfg.json: what SAELens v6 needs, nothing it would refuse', () => {
    const cfg = JSON.parse(new TextDecoder().decode(built.files['cfg.json'])) as Record<string, unknown>;
    const arch = EXPORTED_AS[architecture];
    expect(cfg.architecture).toBe(arch);
    for (const key of REQUIRED) expect(cfg, key).toHaveProperty(key);
    expect(cfg.d_in).toBe(D_IN);
    expect(cfg.d_sae).toBe(D_SAE);
    expect(DTYPES).toContain(cfg.dtype);
    expect(cfg.dtype).toBe('float32'); // the tensors are F32
    const meta = cfg.metadata as Record<string, unknown>;
    expect(typeof meta).toBe('object');
    expect(String(meta.sae_lens_version)).toMatch(/^6\.\d+\.\d+/);
    const fields = INFERENCE_FIELDS[arch];
    if (!fields) {
      // Our own architectures: a name SAELens has not registered, so SAE.load_from_disk fails loudly
      // (KeyError in get_sae_class) rather than loading something else.
      expect(Object.keys(STATE_DICT)).not.toContain(arch);
      return;
    }
    for (const key of Object.keys(cfg)) if (key !== 'architecture') expect(fields, `cfg.json key ${key} is a ${arch} config field`).toContain(key);
    expect(NORMALIZE_ACTIVATIONS).toContain(cfg.normalize_activations);
    expect(RESHAPE_ACTIVATIONS).toContain(cfg.reshape_activations);
    expect(typeof cfg.device).toBe('string');
    expect(cfg.apply_b_dec_to_input).toBe(true);
    if (arch === 'topk') {
      expect(cfg.k).toBe(3);
      expect(typeof cfg.rescale_acts_by_decoder_norm).toBe('boolean');
    }
    // The state dict SAELens's module expects, with its shapes.
    const { tensors } = parseSafetensors(built.files['sae_weights.safetensors']);
    expect([...tensors.keys()].sort()).toEqual([...STATE_DICT[arch]].sort());
    const shapes: Record<string, number[]> = { W_enc: [D_IN, D_SAE], W_dec: [D_SAE, D_IN], b_enc: [D_SAE], b_dec: [D_IN], threshold: [D_SAE], b_gate: [D_SAE], b_mag: [D_SAE], r_mag: [D_SAE] };
    for (const [name, t] of tensors) expect(t.shape, name).toEqual(shapes[name]);
    if (architecture === 'batchtopk' || architecture === 'matryoshka') expect([...tensors.get('threshold')!.values]).toEqual(new Array(D_SAE).fill(THETA));
  });

  it('sparsity.safetensors holds sparsity [d_sae] = log10(firing fraction + 1e-10)', () => {
    const { tensors } = parseSafetensors(built.files['sparsity.safetensors']);
    expect([...tensors.keys()]).toEqual(['sparsity']);
    const s = tensors.get('sparsity')!;
    expect(s.dtype).toBe('F32');
    expect(s.shape).toEqual([D_SAE]);
    const expected = Array.from(built.firing, (f) => Math.fround(Math.log10(f + 1e-10)));
    for (let i = 0; i < D_SAE; i++) expect(s.values[i]).toBeCloseTo(expected[i], 5);
    expect(s.values[0]).toBeCloseTo(-10, 5);
    expect(s.values[1]).toBeCloseTo(0, 6);
  });
});

describe('SAELens export with input normalisation', () => {
  it('per_token is SAELens layer_norm; dataset_norm is folded into the weights and exported as none', () => {
    const perToken = JSON.parse(new TextDecoder().decode(build('relu', { mode: 'per_token' }).files['cfg.json']));
    expect(perToken.normalize_activations).toBe('layer_norm');
    const folded = build('relu', { mode: 'dataset_norm', scale: [0.5] });
    const cfg = JSON.parse(new TextDecoder().decode(folded.files['cfg.json']));
    expect(cfg.normalize_activations).toBe('none');
    for (const v of [perToken.normalize_activations, cfg.normalize_activations]) expect(NORMALIZE_ACTIVATIONS).toContain(v);
    // Folding changes the weights (they now take raw activations): still F32 and the same shapes.
    const { tensors } = parseSafetensors(folded.files['sae_weights.safetensors']);
    expect([...tensors.keys()].sort()).toEqual([...STATE_DICT.standard].sort());
    expect(Array.from(tensors.get('W_dec')!.values)).not.toEqual(Array.from(folded.engine.W_dec.data));
  });
});
