// The form → config mapping: every variant's config resolves, and carries only its own keys.
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, COMMON_DEFAULTS, MULTI_LAYER, resolveConfig, type Architecture } from '../engine/config';
import type { DatasetInfo } from '../data/types';
import { DEFAULT_FORM, checkForm, configFromForm, guidanceProblem, type GuidanceDraft } from './store';

const COMMON = new Set(['architecture', 'd_sae', 'layer', 'layer_start', 'layer_end', 'guidance', ...Object.keys(COMMON_DEFAULTS)]);
const OWN: Record<Architecture, string[]> = {
  relu: ['l1_coefficient'],
  topk: ['k'],
  batchtopk: ['k'],
  randomk: ['k'],
  jumprelu: ['l0_coefficient', 'bandwidth', 'init_threshold'],
  gated: ['l1_coefficient'],
  classic: ['hidden_dim', 'sparsity_type', 'sparsity_coefficient', 'kl_target', 'tied_weights'],
  matryoshka: ['k', 'matryoshka_prefixes'],
  mlsae: ['k'],
  crosscoder: ['l1_coefficient'],
  routesae: ['k', 'routing', 'aggregation'],
};

const dataset = (over: Partial<DatasetInfo> = {}): DatasetInfo => ({
  name: 'a.npy', rows: 1000, dIn: 64, nLayers: 1, labels: [], dtype: 'float32', trainRows: 900, valRows: 100,
  stats: { mean: 0, std: 1, meanNorm: 8, min: -3, max: 3, perDimMean: [], perDimStd: [], normHistogram: { edges: [], counts: [] }, medianNorm: 8, outliers: { count: 0, thresholdNorm: 12, examples: [] } },
  format: 'npy', bytes: 256000, streamed: false, memoryBudgetBytes: 2 ** 30, synthetic: false, description: '', ...over,
});

const draft = (over: Partial<GuidanceDraft> = {}): GuidanceDraft => ({
  id: 'g0', latent: 3, method: 'contrastive', beta: 2, margin: 1, source: 'regex', file: '', piece: '', pattern: '^ ?[A-Z]', ...over,
});

describe('configFromForm', () => {
  for (const architecture of ARCHITECTURES) {
    const nLayers = MULTI_LAYER.includes(architecture) ? 4 : 1;
    for (const sparsity_mode of ['target_l0', 'manual'] as const) {
      it(`${architecture} (${sparsity_mode}) resolves and sends only its own keys`, () => {
        const form = { ...DEFAULT_FORM, architecture, sparsity_mode, d_sae: 128, matryoshka_prefixes: architecture === 'matryoshka' ? '16, 64, 128' : '' };
        const cfg = configFromForm(form, [], nLayers);
        for (const key of Object.keys(cfg)) expect(COMMON.has(key) || OWN[architecture].includes(key), `${architecture} sends "${key}"`).toBe(true);
        const resolved = resolveConfig(cfg, 64, nLayers);
        expect(resolved.architecture).toBe(architecture);
        expect(resolved.sparsity_mode).toBe(sparsity_mode);
        expect(resolved.target_l0).toBeCloseTo(0.05);
        if ('k' in resolved) expect(resolved.k).toBe(sparsity_mode === 'target_l0' ? Math.round(0.05 * 128) : DEFAULT_FORM.k);
      });
    }
  }

  it('maps λ to the variant’s key, and the layer keys only for multi-layer data', () => {
    expect(configFromForm({ ...DEFAULT_FORM, architecture: 'jumprelu', l0_coefficient: 0.3 }).l0_coefficient).toBe(0.3);
    expect(configFromForm({ ...DEFAULT_FORM, architecture: 'classic', sparsity_coefficient: 0.2 }).sparsity_coefficient).toBe(0.2);
    expect(configFromForm({ ...DEFAULT_FORM, architecture: 'relu', layer: 2 }, [], 1).layer).toBeUndefined();
    expect(configFromForm({ ...DEFAULT_FORM, architecture: 'relu', layer: 2 }, [], 4).layer).toBe(2);
    const multi = configFromForm({ ...DEFAULT_FORM, architecture: 'routesae', layer: 2, layer_start: 0, layer_end: 2 }, [], 4);
    expect([multi.layer, multi.layer_start, multi.layer_end]).toEqual([undefined, 0, 2]);
  });

  it('sends the guidance targets with their ids', () => {
    const cfg = configFromForm(DEFAULT_FORM, [draft(), draft({ id: 'g2', source: 'piece', piece: ' the', method: 'mse' })]);
    expect(cfg.guidance).toEqual([
      { id: 'g0', latent: 3, method: 'contrastive', beta: 2, margin: 1, labels: { kind: 'regex', pattern: '^ ?[A-Z]' } },
      { id: 'g2', latent: 3, method: 'mse', beta: 2, margin: 1, labels: { kind: 'piece', piece: ' the' } },
    ]);
  });
});

describe('checkForm', () => {
  it('explains a multi-layer variant on one-layer data', () => {
    const { problem } = checkForm({ ...DEFAULT_FORM, architecture: 'routesae' }, [], dataset());
    expect(problem).toMatch(/several layers/);
  });

  it('explains a token rule without tokens and vocab, and accepts it with them', () => {
    expect(checkForm(DEFAULT_FORM, [draft()], dataset()).problem).toMatch(/token ids .* vocab/);
    const withTokens = dataset({ tokens: { name: 't.npy', count: 1000 }, vocab: { name: 'v.json', count: 50 } });
    expect(checkForm(DEFAULT_FORM, [draft()], withTokens).problem).toBeNull();
  });

  it('checks latent range, labels files and regexes', () => {
    const ds = dataset({ tokens: { name: 't.npy', count: 1000 }, vocab: { name: 'v.json', count: 50 }, labels: [{ name: 'y.csv', count: 1000, positiveFraction: 0.1 }] });
    expect(guidanceProblem(draft({ latent: 512 }), ds, 512)).toMatch(/latent/);
    expect(guidanceProblem(draft({ pattern: '([' }), ds, 512)).toMatch(/bad regular expression/);
    expect(guidanceProblem(draft({ source: 'file', file: 'z.csv' }), ds, 512)).toMatch(/not loaded/);
    expect(guidanceProblem(draft({ source: 'file', file: 'y.csv' }), ds, 512)).toBeNull();
  });
});
