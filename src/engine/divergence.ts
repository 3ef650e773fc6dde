// Divergence: the checks a log step makes for a run that blew up, and when its state is healthy enough to roll back to.
import type { MetricRow } from './types';

/** Raised when a loss turns non-finite; the caller pauses and tells the user. */
export class DivergenceError extends Error {
  constructor(readonly step: number, readonly detail: string) {
    super(`training diverged at step ${step}: ${detail}. Lower the learning rate (try half) or the sparsity coefficient, then train again.`);
    this.name = 'DivergenceError';
  }
}

/** Seconds between the copies a diverged run rolls back to (at least: see GOOD_COPY_SHARE). */
export const GOOD_SNAPSHOT_SECONDS = 2;
/** Where those copies are read into arrays (wasm, cpu), the share of training time they may take. */
export const GOOD_COPY_SHARE = 0.05;
/**
 * A reconstruction loss this many times its first logged value is a blow-up (a learning rate far
 * too high sends it to 1e10 while it is still finite). Any SAE that outputs b_dec alone scores about
 * the first value, so no healthy run — whatever its λ or k — comes near this.
 */
export const BLOWUP_FACTOR = 100;
/** A state is kept to roll back to only while its reconstruction loss is within this factor of the first. */
const GOOD_FACTOR = 2;

/**
 * Throws DivergenceError when the logged row of `step` shows a non-finite loss, non-finite
 * parameters or a blown-up reconstruction loss. `reference` is the first logged reconstruction
 * loss (null on the first log step); returns it, set from this row when it was null.
 */
export function checkDivergence(step: number, row: MetricRow, nonfiniteParams: number, reference: number | null): number {
  if (!Number.isFinite(row.total_loss)) {
    throw new DivergenceError(step, `the total loss is ${row.total_loss}`);
  }
  if (nonfiniteParams > 0) {
    throw new DivergenceError(step, `${nonfiniteParams.toLocaleString('en-US')} parameter value(s) are NaN or infinite`);
  }
  // The floor keeps data that is all but constant from tripping on noise.
  const ref = reference ?? Math.max(row.recon_loss, 1e-6);
  if (row.recon_loss > BLOWUP_FACTOR * ref) {
    throw new DivergenceError(step, `the reconstruction loss grew to ${row.recon_loss.toPrecision(3)}, over ${BLOWUP_FACTOR}× its first logged value ${ref.toPrecision(3)}`);
  }
  return ref;
}

/** Whether a state whose reconstruction loss is `reconLoss` is one to keep for rolling back to. */
export function isHealthy(reconLoss: number, reference: number): boolean {
  return reconLoss <= GOOD_FACTOR * reference;
}
