import { describe, expect, it } from 'vitest';
import { niceAbove, StepAxis, stepAxisLimit } from './stepAxis';

describe('step axis', () => {
  it('rounds up to 1, 2 or 5 × 10ⁿ', () => {
    expect([0.3, 1, 1.01, 2, 2.5, 7, 10, 11, 1250, 20_000, 20_001, 3e6].map(niceAbove)).toEqual([0.5, 1, 2, 2, 5, 10, 10, 20, 2000, 20_000, 50_000, 5e6]);
  });

  it('jumps only when the data reaches its end: a few dozen jumps from step 10 to 10 million', () => {
    const axis = new StepAxis();
    let jumps = 0;
    for (let step = 10; step <= 10_000_000; step += 10) if (axis.next(step) !== null) jumps++;
    expect(jumps).toBeLessThanOrEqual(20);
    expect(axis.top).toBeGreaterThan(10_000_000);
    expect(axis.top).toBe(20_000_000);
  });

  it('leaves a zoomed axis alone until the user resets it', () => {
    const axis = new StepAxis();
    expect(axis.next(100)).toBe(200);
    expect(axis.onRelayout({ 'xaxis.range[0]': 10, 'xaxis.range[1]': 50 }, false)).toBe(false);
    expect(axis.userZoomed).toBe(true);
    expect(axis.next(500)).toBeNull();
    // Our own relayout is not the user's.
    expect(axis.onRelayout({ 'xaxis.autorange': true }, true)).toBe(false);
    expect(axis.userZoomed).toBe(true);
    // Double-click: autorange → ours again, at once.
    expect(axis.onRelayout({ 'xaxis.autorange': true }, false)).toBe(true);
    expect(axis.next(500)).toBe(1000);
  });

  it('never runs past the run: a 1,000-step run ends at 1,000 while it trains and once it is done', () => {
    const axis = new StepAxis();
    const tops: number[] = [];
    for (let step = 10; step <= 1000; step += 10) {
      const top = axis.next(step, stepAxisLimit('running', 1000, step));
      if (top !== null) tops.push(top);
    }
    expect(tops).toEqual([20, 50, 100, 200, 500, 1000]);
    expect(axis.next(1000, stepAxisLimit('done', 1000, 1000))).toBeNull();
    expect(axis.top).toBe(1000);
  });

  it('a run stopped early ends at its last logged step; a paused one keeps its step count', () => {
    expect(stepAxisLimit('paused', 1000, 340)).toBe(1000);
    expect(stepAxisLimit('stopped', 1000, 340)).toBe(340);
    expect(stepAxisLimit('idle', 0, 340)).toBe(340);
    const axis = new StepAxis();
    expect(axis.next(340, stepAxisLimit('running', 1000, 340))).toBe(500);
    expect(axis.next(340, stepAxisLimit('stopped', 1000, 340))).toBe(340);
    expect(axis.next(340, stepAxisLimit('stopped', 1000, 340))).toBeNull();
  });
});
