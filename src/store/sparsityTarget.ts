// The L0 target a run is judged against. Only a run in target-L0 mode has one (manual k or λ, and
// the runs of a λ / k sweep, have none); its value is the one in effect at the end of the run, which
// a slider may have moved while it trained. Every verdict (Metrics, Training analysis, the kept
// run's label) reads the target from here, so they cannot disagree.
import { L0_TARGET_FRACTION, L0_TARGET_TOLERANCE } from '../engine/metrics';
import type { SaeConfig } from '../engine/config';

/** From `step` on, the run steered towards `target` (a fraction of d_sae). */
export interface TargetChange {
  step: number;
  target: number;
}

type TargetConfig = Pick<SaeConfig, 'sparsity_mode' | 'target_l0'>;

/**
 * The targets in effect over a run, from its config and its logged `target_l0` column (one value per
 * logged step): the first entry is the config's target, then one entry per change. Empty when the
 * run has no target.
 */
export function targetHistory(config: TargetConfig | null | undefined, steps: ArrayLike<number>, targets: ArrayLike<number>): TargetChange[] {
  if (!config || config.sparsity_mode !== 'target_l0') return [];
  const history: TargetChange[] = [{ step: 0, target: config.target_l0 }];
  for (let i = 0; i < Math.min(steps.length, targets.length); i++) {
    const t = targets[i];
    if (!Number.isFinite(t) || t <= 0) continue;
    const last = history[history.length - 1];
    if (t !== last.target) history.push({ step: steps[i], target: t });
  }
  return history;
}

/** The target in effect now (the last of the history), or null when the run has none. */
export function targetInEffect(history: readonly TargetChange[]): number | null {
  return history.length ? history[history.length - 1].target : null;
}

/** How far from the target still counts as achieved: ±20% of it (±1 point at the default 5%). */
export function targetTolerance(target: number): number {
  return target * (L0_TARGET_TOLERANCE / L0_TARGET_FRACTION);
}

const percent = (fraction: number) => `${Number((fraction * 100).toPrecision(4))}%`;

/** "5%", or "5.48% (moved from 5% at step 420)" when a slider moved it during the run. */
export function describeTarget(history: readonly TargetChange[]): string | null {
  const now = targetInEffect(history);
  if (now === null) return null;
  if (history.length === 1) return percent(now);
  const moves = history.slice(1).map((c, i) => `${percent(history[i].target)} → ${percent(c.target)} at step ${c.step.toLocaleString('en-US')}`);
  return `${percent(now)} (moved: ${moves.join(', ')})`;
}
