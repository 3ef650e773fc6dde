// The target L0 a run is judged against: none in manual mode, the one in effect after a slider moved it.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { describeTarget, targetHistory, targetInEffect, targetTolerance } from './sparsityTarget';

const target = resolveConfig({ architecture: 'topk', d_sae: 64, target_l0: 0.05 }, 16, 1);
const manual = resolveConfig({ architecture: 'topk', d_sae: 64, sparsity_mode: 'manual', k: 5 }, 16, 1);

describe('targetHistory', () => {
  it('is empty for a run without a target (manual k, a sweep of λ or k)', () => {
    const h = targetHistory(manual, [10, 20], [0.05, 0.05]);
    expect(h).toEqual([]);
    expect(targetInEffect(h)).toBeNull();
    expect(describeTarget(h)).toBeNull();
    expect(targetHistory(null, [], [])).toEqual([]);
  });

  it('follows the slider: the target in effect is the last one logged', () => {
    const h = targetHistory(target, [10, 20, 30, 40], [0.05, 0.05, 0.0548, 0.0548]);
    expect(h).toEqual([{ step: 0, target: 0.05 }, { step: 30, target: 0.0548 }]);
    expect(targetInEffect(h)).toBe(0.0548);
    expect(describeTarget(h)).toBe('5.48% (moved: 5% → 5.48% at step 30)');
  });

  it('a move before the first logged step still counts as a move from the config\'s target', () => {
    expect(targetHistory(target, [10, 20], [0.5, 0.5])).toEqual([{ step: 0, target: 0.05 }, { step: 10, target: 0.5 }]);
  });

  it("an unmoved target is the config's", () => {
    const h = targetHistory(target, [10, 20], [0.05, 0.05]);
    expect(h).toEqual([{ step: 0, target: 0.05 }]);
    expect(describeTarget(h)).toBe('5%');
  });

  it('tolerance is 20% of the target (1 point at 5%)', () => {
    expect(targetTolerance(0.05)).toBeCloseTo(0.01, 15);
    expect(targetTolerance(0.1)).toBeCloseTo(0.02, 15);
  });
});
