// The step axis of a live chart grows in jumps (to 1, 2 or 5 × 10ⁿ, with room ahead) instead of
// following the data on every redraw. Tick labels then keep their place between jumps: easier to
// read, and Plotly, which caches the size of every tick label by its text *and position* (up to
// 10,000 entries before it clears them), does not add a dozen entries per redraw — on a long run
// that cache was the one thing in the page's heap that grew with time (issue 8 soak).

/** The smallest 1, 2 or 5 × 10ⁿ at or above v (v > 0). */
export function niceAbove(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/** Headroom: the axis jumps when the data reaches its end, to leave this much more room. */
const HEADROOM = 1.25;

/**
 * Where the step axis may end at most: while a run trains (or is paused), at its step count; once
 * it is over (done, stopped, or a log with no run behind it), at its last logged step. A jump
 * never takes the axis past the end of the run (0–2,000 for a run of 1,000 steps).
 */
export function stepAxisLimit(runState: string, totalSteps: number, lastStep: number): number {
  const training = runState === 'running' || runState === 'paused';
  return training && totalSteps > 0 ? Math.max(totalSteps, lastStep) : lastStep;
}

export class StepAxis {
  /** Upper end of the axis now (0 = not set yet). */
  top = 0;
  /** Set when the user zoomed or panned the axis: it is left alone until they reset it. */
  userZoomed = false;

  /**
   * The new upper end when `lastStep` has reached the current one, or the current one is past
   * `limit` (stepAxisLimit), else null.
   */
  next(lastStep: number, limit = Infinity): number | null {
    if (this.userZoomed) return null;
    if (lastStep < this.top && this.top <= limit) return null;
    const top = Math.min(niceAbove(Math.max(1, lastStep) * HEADROOM), Math.max(1, limit));
    if (top === this.top) return null;
    this.top = top;
    return top;
  }

  reset(): void {
    this.top = 0;
    this.userZoomed = false;
  }

  /**
   * A relayout event of the chart (from the user's zoom, pan, double-click or reset, or our own).
   * Returns true when the axis should be put back to our range (the user reset it).
   */
  onRelayout(update: Record<string, unknown>, ours: boolean): boolean {
    if (ours) return false;
    if (update['xaxis.autorange'] === true) {
      this.userZoomed = false;
      this.top = 0; // the next redraw sets our range again
      return true;
    }
    if ('xaxis.range[0]' in update || 'xaxis.range[1]' in update || Array.isArray(update['xaxis.range'])) this.userZoomed = true;
    return false;
  }
}
