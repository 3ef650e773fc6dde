import { describe, expect, it } from 'vitest';
import { auroc } from './metrics';
import { values } from './testing';

/** O(n²) definition: over all (positive, negative) pairs, 1 if the positive scores higher, ½ if tied. */
function bruteForce(scores: number[], labels: number[]): number {
  let wins = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!(labels[i] > 0.5)) continue;
    for (let k = 0; k < scores.length; k++) {
      if (labels[k] > 0.5) continue;
      pairs++;
      wins += scores[i] > scores[k] ? 1 : scores[i] === scores[k] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('auroc', () => {
  it('hand cases: perfect 1, inverted 0, all tied ½, one swapped pair', () => {
    expect(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(auroc([3, 3, 3, 3, 3], [1, 0, 1, 0, 0])).toBe(0.5);
    // positives 0.3, 0.9; negatives 0.1, 0.5 → pairs won: (0.3>0.1), (0.9>0.1), (0.9>0.5) = 3 of 4
    expect(auroc([0.3, 0.1, 0.9, 0.5], [1, 0, 1, 0])).toBe(0.75);
    // A tie between classes counts ½: positives {1, 0}, negatives {0, 0} → 1 + 1 + ½ + ½ = 3 of 4
    expect(auroc(new Float32Array([1, 0, 0, 0]), new Float32Array([1, 1, 0, 0]))).toBe(0.75);
  });

  it('is NaN when a class is empty or a score is NaN, and rejects mismatched lengths', () => {
    expect(auroc([1, 2, 3], [0, 0, 0])).toBeNaN();
    expect(auroc([1, 2, 3], [1, 1, 1])).toBeNaN();
    expect(auroc([], [])).toBeNaN();
    expect(auroc([1, NaN], [1, 0])).toBeNaN();
    expect(() => auroc([1, 2], [1])).toThrow(/2 scores but 1 labels/);
  });

  it('uses labels > 0.5 as positive', () => {
    expect(auroc([0.1, 0.2, 0.8, 0.9], [0.2, 0.5, 0.51, 0.9])).toBe(1);
  });

  it('matches the O(n²) pair count on random sparse, heavily tied scores', () => {
    for (const [n, seed] of [[50, 1], [333, 2], [1000, 3]]) {
      const u = values(n, seed);
      const v = values(n, seed + 100);
      // Like a sparse latent: ~60% exact zeros, the rest quantised to 0.25 steps (many ties).
      const scores = u.map((x, i) => (x < 0.2 ? 0 : Math.round((x + 0.3 * v[i]) * 4) / 4));
      // Labels correlated with the score, so the AUC is far from ½ and ties straddle the classes.
      const labels = v.map((x, i) => (x + scores[i] > 0.3 ? 1 : 0));
      expect(new Set(scores).size).toBeLessThan(12);
      expect(scores.filter((s) => s === 0).length).toBeGreaterThan(n / 3);
      const expected = bruteForce(scores, labels);
      expect(expected).toBeGreaterThan(0.6);
      expect(auroc(scores, labels)).toBeCloseTo(expected, 12);
      expect(auroc(new Float32Array(scores), new Uint8Array(labels))).toBeCloseTo(expected, 12);
    }
  });

  it('is invariant to the order of rows', () => {
    const scores = [0, 0, 0.5, 0.5, 1, 0, 2, 0.5];
    const labels = [0, 1, 1, 0, 1, 0, 1, 0];
    const perm = [7, 3, 0, 6, 1, 5, 2, 4];
    expect(auroc(perm.map((i) => scores[i]), perm.map((i) => labels[i]))).toBeCloseTo(auroc(scores, labels), 14);
    expect(auroc(scores, labels)).toBeCloseTo(bruteForce(scores, labels), 14);
  });
});
