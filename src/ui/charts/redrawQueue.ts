// Plotly redraws of every chart on the page take turns, one per animation frame: a redraw costs
// 10–60 ms on this machine, and several in one task (five live charts re-plotted by a new run, the
// analysis panel's two charts refreshed together each second) made main-thread tasks of 100–160 ms.
const queue: (() => void)[] = [];
let frame = 0;

function runNext() {
  frame = 0;
  queue.shift()?.();
  if (queue.length && !frame) frame = requestAnimationFrame(runNext);
}

/** Runs `f` on its own frame after the redraws already queued; queued at most once at a time. */
export function queueRedraw(f: () => void): void {
  if (!queue.includes(f)) queue.push(f);
  if (!frame) frame = requestAnimationFrame(runNext);
}

export function unqueueRedraw(f: () => void): void {
  const i = queue.indexOf(f);
  if (i >= 0) queue.splice(i, 1);
}

/** Resolves on the caller's turn (each call is its own turn). */
export function redrawTurn(): Promise<void> {
  return new Promise((resolve) => queueRedraw(resolve));
}

/**
 * A redraw's time as a performance measure named "<chart test id>: <what>" (e.g. "chart-loss:
 * append"), seen in a browser's performance panel and read by the responsiveness bench.
 */
export function measureDraw(chart: string, what: string, start: number): void {
  try { performance.measure(`${chart}: ${what}`, { start }); } catch { /* no User Timing Level 3 */ }
}
