// Export → import → export of every architecture gives byte-identical tensors, the imported SAE
// evaluates like the trained one, and foreign SAELens directories are mapped to our variants.
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, resolveConfig, type Architecture, type ConfigInput } from '../engine/config';
import { useCpu } from '../engine/testing';
import { Trainer } from '../engine/trainer';
import { makeSyntheticDataset } from './synthetic';
import { selectLayers, splitDataset, type Dataset } from './dataset';
import { buildRunExport } from '../run/runExport';
import { SaeImportError, importSaeLens } from './saeImport';
import { buildSaeLensCfg, buildSaeLensExport } from '../io/saelens';

beforeAll(useCpu);

const single = makeSyntheticDataset({ rows: 512, dIn: 8, nFeatures: 16, activePerRow: 2, seed: 2 });
const multi: Dataset = (() => {
  const L = 3, d = single.dIn, N = single.rows;
  const data = new Float32Array(N * L * d);
  for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) for (let j = 0; j < d; j++) data[(n * L + l) * d + j] = single.data[n * d + ((j + l) % d)];
  return { name: 'layers', rows: N, dIn: d, nLayers: L, data, dtype: 'float32', description: '' };
})();

const ab = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

function trainerFor(input: ConfigInput, architecture: Architecture): Trainer {
  const nLayers = MULTI_LAYER.includes(architecture) ? multi.nLayers : 1;
  const cfg = resolveConfig(input, single.dIn, nLayers);
  const ds = nLayers > 1 ? selectLayers(multi, cfg.layer_start, cfg.layer_end) : single;
  return new Trainer(cfg, splitDataset(ds, 0.2, 0), 'cpu');
}

async function exportOf(t: Trainer): Promise<Record<string, Uint8Array>> {
  const ev = await t.evaluate();
  return buildRunExport({
    tensors: await t.exportTensors(), saelens: t.saelensConfig(), dIn: t.data.dIn, config: t.currentConfig(),
    rows: t.takeRows(), firingFraction: ev.firingFraction, datasetName: 'synthetic', normalization: t.normalization,
  });
}

describe.each(ARCHITECTURES.map((a) => [a]))('%s', (architecture) => {
  it('export → import → export is byte-identical and evaluates the same', async () => {
    const normalize = architecture === 'relu' ? 'dataset_norm' : architecture === 'topk' ? 'per_token' : 'none';
    const a = trainerFor({ architecture, d_sae: 24, batch_size: 32, steps: 8, log_every: 4, normalize }, architecture);
    await a.runSteps(8);
    const first = await exportOf(a);
    const ea = await a.evaluate();
    a.dispose();

    const imported = importSaeLens({ cfg: ab(first['cfg.json']), weights: ab(first['sae_weights.safetensors']), sparsity: ab(first['sparsity.safetensors']), runConfig: ab(first['run_config.json']) });
    expect(imported.info.hasRunConfig).toBe(true);
    expect(imported.info.dSae).toBe(24);
    expect(imported.info.density?.counts.reduce((x, y) => x + y, 0)).toBe(24);
    const b = trainerFor(imported.configInput, architecture);
    b.loadTensors(imported.tensors);
    const second = await exportOf(b);
    expect(Buffer.from(second['sae_weights.safetensors']).equals(Buffer.from(first['sae_weights.safetensors']))).toBe(true);
    const eb = await b.evaluate();
    // dataset_norm: the first run saw scaled rows, the import takes raw rows with the scale folded in.
    if (normalize !== 'dataset_norm') expect(eb.metrics.nmse).toBeCloseTo(ea.metrics.nmse, 5);
    b.dispose();
  }, 30_000);
});

describe('foreign SAELens directories', () => {
  const d = 3, n = 2;
  const W_enc = new Float32Array([1, 0, 0, 1, 1, 1]); // [3, 2]
  const W_dec = new Float32Array([1, 0, 0, 0, 1, 0]); // [2, 3]
  const b_dec = new Float32Array([0.5, -1, 2]);
  const b_enc = new Float32Array([0.1, 0.2]);
  const files = (cfg: Record<string, unknown>) => {
    const out = buildSaeLensExport({ tensors: { W_enc: { shape: [d, n], data: W_enc }, W_dec: { shape: [n, d], data: W_dec }, b_dec: { shape: [d], data: b_dec }, b_enc: { shape: [n], data: b_enc } }, cfg: buildSaeLensCfg({ architecture: 'standard', d_in: d, d_sae: n, extra: cfg }) });
    return { cfg: ab(out['cfg.json']), weights: ab(out['sae_weights.safetensors']) };
  };

  it('maps SAELens architectures and folds apply_b_dec_to_input = false into the encoder bias', () => {
    const plain = importSaeLens(files({}));
    expect(plain.configInput).toMatchObject({ architecture: 'relu', d_sae: 2, normalize: 'none' });
    const folded = importSaeLens(files({ apply_b_dec_to_input: false, normalize_activations: 'layer_norm' }));
    expect(folded.configInput.normalize).toBe('per_token');
    // (x − b_dec)·W + b' = x·W + b  ⇔  b' = b + b_dec·W: b_dec·W = [0.5 + 2, −1 + 2] = [2.5, 1].
    expect(Array.from(folded.tensors.b_enc.data)).toEqual([Math.fround(0.1 + 2.5), Math.fround(0.2 + 1)]);
    expect(folded.info.notes.join(' ')).toMatch(/apply_b_dec_to_input/);
  });

  it('explains what is missing or unknown', () => {
    const bad = buildSaeLensExport({ tensors: { W_enc: { shape: [d, n], data: W_enc }, W_dec: { shape: [n, d], data: W_dec }, b_dec: { shape: [d], data: b_dec } }, cfg: buildSaeLensCfg({ architecture: 'transcoder', d_in: d, d_sae: n }) });
    expect(() => importSaeLens({ cfg: ab(bad['cfg.json']), weights: ab(bad['sae_weights.safetensors']) })).toThrow(SaeImportError);
    expect(() => importSaeLens({ cfg: ab(bad['cfg.json']), weights: ab(bad['sae_weights.safetensors']) })).toThrow(/architecture "transcoder"/);
    const shape = buildSaeLensExport({ tensors: { W_enc: { shape: [d, n], data: W_enc }, W_dec: { shape: [n, d], data: W_dec }, b_dec: { shape: [d], data: b_dec } }, cfg: buildSaeLensCfg({ architecture: 'standard', d_in: d, d_sae: n }) });
    const cfg = new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(shape['cfg.json'])), d_sae: 5 }));
    expect(() => importSaeLens({ cfg: ab(cfg), weights: ab(shape['sae_weights.safetensors']) })).toThrow(/W_enc has shape \[3, 2\] but d_in 3, d_sae 5 \(from cfg\.json\) need \[3, 5\]; the cfg\.json and the weights are of different SAEs/);
    expect(() => importSaeLens({ cfg: new TextEncoder().encode('{oops').buffer as ArrayBuffer, weights: ab(shape['sae_weights.safetensors']) })).toThrow(/cfg.json is not valid JSON/);
  });
});
