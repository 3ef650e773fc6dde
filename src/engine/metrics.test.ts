import { describe, expect, it } from 'vitest';
import { centeredSumOfSquares, convergenceCv, featureRecovery, fve, nmse, nmsePerToken, rollingMean, smoothingWindow, targetStatus } from './metrics';
import { resolveConfig } from './config';

describe('smoothing', () => {
  it('window is min(50, n/10), at least 1; trailing rolling mean', () => {
    expect([smoothingWindow(5), smoothingWindow(100), smoothingWindow(3000)]).toEqual([1, 10, 50]);
    expect(rollingMean([1, 2, 3, 4, 5], 2)).toEqual([1, 1.5, 2.5, 3.5, 4.5]);
  });
});

describe('convergenceCv', () => {
  it('is sample std / mean × 100 over the last min(100, n/5) values', () => {
    const v = [10, 10, 10, 10, 10, 10, 10, 10, 2, 4]; // n = 10 → window 2 → [2, 4]: mean 3, sample std √2
    expect(convergenceCv(v)).toBeCloseTo((Math.SQRT2 / 3) * 100, 10);
    const long = Array.from({ length: 1000 }, (_, i) => (i < 900 ? 100 : 1 + (i % 2))); // last 100 alternate 1, 2
    const std = Math.sqrt((100 * 0.25) / 99);
    expect(convergenceCv(long)).toBeCloseTo((std / 1.5) * 100, 8);
    expect(Number.isNaN(convergenceCv([1, 2, 3]))).toBe(true);
  });
});

describe('targetStatus', () => {
  it('achieved when |final − 0.05| < 0.01', () => {
    expect(targetStatus(0.055).achieved).toBe(true);
    expect(targetStatus(0.041).achieved).toBe(true);
    expect(targetStatus(0.07).achieved).toBe(false);
    expect(targetStatus(0.07).deviation).toBeCloseTo(0.02, 12);
  });
});

describe('reconstruction metrics', () => {
  it('nmse, fve and nmse_per_token on a hand-made 3×2 split', () => {
    const x = new Float32Array([1, 0, 0, 2, 3, 4]); // mean row (4/3, 2)
    const xHat = [1, 1, 0, 2, 3, 3]; // per-row errors 1, 0, 1
    const rowSq = [1, 4, 25];
    const errSq = 2, xSq = 30;
    const centeredSq = centeredSumOfSquares(x, 3, 2);
    // Σ‖x − x̄‖² = (1−4/3)² + (0−2)² + (0−4/3)² + (2−2)² + (3−4/3)² + (4−2)² = 1/9 + 4 + 16/9 + 0 + 25/9 + 4
    expect(centeredSq).toBeCloseTo(1 / 9 + 4 + 16 / 9 + 25 / 9 + 4, 6);
    const sums = { rows: 3, errSq, xSq, centeredSq, relErrSum: 1 / rowSq[0] + 0 + 1 / rowSq[2] };
    expect(nmse(sums)).toBeCloseTo(2 / 30, 12);
    expect(fve(sums)).toBeCloseTo(1 - 2 / centeredSq, 12);
    expect(nmsePerToken(sums)).toBeCloseTo((1 + 1 / 25) / 3, 12);
    expect(xHat.length).toBe(6);
  });
});

describe('featureRecovery', () => {
  const truth = new Float32Array([1, 0, 0, /**/ 0, 1, 0]);
  it('is 1 when the decoder contains every true feature (any scale, any order)', () => {
    expect(featureRecovery(truth, 2, new Float32Array([0, 3, 0, /**/ 0.5, 0, 0, /**/ 0, 0, 1]), 3, 3)).toBeCloseTo(1, 6);
  });
  it('is 0 for an orthogonal decoder and the mean best cosine otherwise', () => {
    expect(featureRecovery(truth, 2, new Float32Array([0, 0, 1]), 1, 3)).toBeCloseTo(0, 6);
    // one decoder row (1, 1, 0)/√2: cosine 1/√2 with both
    expect(featureRecovery(truth, 2, new Float32Array([1, 1, 0]), 1, 3)).toBeCloseTo(Math.SQRT1_2, 6);
  });
});

describe('resolveConfig', () => {
  it('fills documented defaults and derives d_sae from the expansion factor', () => {
    const c = resolveConfig({ architecture: 'jumprelu' }, 64);
    expect(c).toMatchObject({ d_sae: 512, batch_size: 512, lr: 1e-3, l0_coefficient: 0.1, bandwidth: 0.05, init_threshold: 0.05 });
    // k follows the 5% target L0 unless given or in manual mode.
    expect(resolveConfig({ architecture: 'topk', expansion_factor: 2 }, 64)).toMatchObject({ d_sae: 128, k: 6, aux_k: 32, sparsity_mode: 'target_l0', target_l0: 0.05 });
    expect(resolveConfig({ architecture: 'topk', expansion_factor: 2, sparsity_mode: 'manual' }, 64)).toMatchObject({ k: 32 });
    expect(resolveConfig({ architecture: 'topk', d_sae: 100, k: 9 }, 64)).toMatchObject({ k: 9 });
    expect(resolveConfig({ architecture: 'classic' }, 16)).toMatchObject({ hidden_dim: 32, sparsity_type: 'l1', kl_target: 0.05, tied_weights: false, early_stopping_patience: 10 });
    expect(resolveConfig({ architecture: 'routesae' }, 8, 6)).toMatchObject({ layer_start: 1, layer_end: 4, routing: 'hard', aggregation: 'sum' });
    expect(resolveConfig({ architecture: 'matryoshka', d_sae: 64 }, 8)).toMatchObject({ matryoshka_prefixes: [4, 8, 16, 32, 64] });
  });
  it('rejects bad configs with a message naming the key', () => {
    expect(() => resolveConfig({ architecture: 'relu', l1_coef: 1 }, 8)).toThrow(/unknown config key "l1_coef"/);
    expect(() => resolveConfig({ architecture: 'crosscoder' }, 8)).toThrow(/needs activations of several layers/);
    expect(() => resolveConfig({ architecture: 'matryoshka', d_sae: 64, matryoshka_prefixes: [8, 4, 64] }, 8)).toThrow(/ascend strictly/);
    expect(() => resolveConfig({ architecture: 'relu', normalize: 'zscore' }, 8)).toThrow(/"normalize".*per_token/);
    expect(() => resolveConfig({ architecture: 'relu', d_sae: 8, guidance: [{ latent: 8, labels: { kind: 'piece', piece: 'a' } }] }, 8)).toThrow(/latent index in \[0, 7\]/);
    expect(() => resolveConfig({ architecture: 'relu', guidance: [{ latent: 0 }] }, 8)).toThrow(/guidance\[0\]\.labels/);
    expect(() => resolveConfig({ architecture: 'gelu' }, 8)).toThrow(/unknown architecture "gelu"/);
    expect(() => resolveConfig({ architecture: 'topk', d_sae: 16, k: 17 }, 8)).toThrow(/k = 17 is larger than d_sae = 16/);
    expect(() => resolveConfig({ architecture: 'relu', lr: -1 }, 8)).toThrow(/"lr" is -1/);
    expect(() => resolveConfig({ architecture: 'relu', batch_size: 1.5 }, 8)).toThrow(/"batch_size"/);
  });
});
