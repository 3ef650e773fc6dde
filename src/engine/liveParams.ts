// Live parameters inside the trainer: which queued changes take effect, and the values a step trains with after warm-ups and decay.
import type { LiveParams, SaeConfig } from './config';

/**
 * The queued changes that take effect: finite numbers that differ from the current values, with the
 * target L0 fraction kept within [1/d_sae, 0.99] and k a whole number within [1, d_sae]. Where k
 * follows the target (`kFollowsTarget`: the k variants in target_l0 mode), a new target sets k too.
 */
export function acceptedChanges(pending: Partial<LiveParams>, live: LiveParams, dSae: number, kFollowsTarget: boolean): Partial<LiveParams> {
  const changes: Partial<LiveParams> = {};
  for (const [key, value] of Object.entries(pending) as [keyof LiveParams, number][]) {
    if (typeof value === 'number' && Number.isFinite(value) && value !== live[key]) changes[key] = value;
  }
  if (Object.keys(changes).length === 0) return changes;
  if (changes.targetL0 !== undefined) {
    changes.targetL0 = Math.min(0.99, Math.max(1 / dSae, changes.targetL0));
    // k variants follow the target directly.
    if (kFollowsTarget && changes.k === undefined) changes.k = Math.round(changes.targetL0 * dSae);
  }
  if (changes.k !== undefined) changes.k = Math.max(1, Math.min(dSae, Math.round(changes.k)));
  return changes;
}

/** Learning-rate multiplier at a step: linear warm-up from 0, then linear decay to 0 at the end. */
export function lrFactor(step: number, steps: number, warmup: number, decay: number): number {
  let f = 1;
  if (warmup > 0 && step < warmup) f = Math.min(f, (step + 1) / warmup);
  if (decay > 0 && step >= steps - decay) f = Math.min(f, (steps - step) / decay);
  return f;
}

/** λ and learning rate in effect at step index `step` (0-based), warm-ups and decay applied. */
export function scheduledLive(cfg: SaeConfig, live: LiveParams, step: number): LiveParams {
  const lambdaFactor = cfg.lambda_warmup_steps > 0 ? Math.min(1, (step + 1) / cfg.lambda_warmup_steps) : 1;
  return { ...live, lr: live.lr * lrFactor(step, cfg.steps, cfg.lr_warmup_steps, cfg.lr_decay_steps), lambda: live.lambda * lambdaFactor };
}
