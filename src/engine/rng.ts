// A small seeded PRNG so that initialisation and batch order are identical on every backend
// (tfjs's own random ops differ between backends).

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** The generator's whole state (to save a run and resume it with the same draws). */
  state(): RngState;
  restore(state: RngState): void;
}

export interface RngState {
  s: number;
  spare: number | null;
}

/** mulberry32: 32-bit state, fast, good enough for shuffles and initialisation. */
export function createRng(seed: number): Rng {
  let s = (seed >>> 0) ^ 0x9e3779b9;
  let spare: number | null = null;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal() {
      if (spare !== null) { const v = spare; spare = null; return v; }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int(n: number) { return Math.floor(next() * n); },
    state: () => ({ s: s >>> 0, spare }),
    restore(state: RngState) { s = state.s >>> 0; spare = state.spare; },
  };
}

/** Fisher–Yates shuffle of 0..n-1. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}
