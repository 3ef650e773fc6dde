// AssemblyScript source of the engine's wasm kernels (scripts/build-wasm-kernels.mjs compiles it to
// src/engine/ops/wasm/kernels.generated.ts). The module imports tfjs-backend-wasm's own memory, so
// every pointer here is a tensor's offset in that heap: no copies in or out. It has no data, no
// stack and no allocator of its own — it must never write outside the buffers it is given.
//
// Every exported kernel ends with (start, end, thread): it does the part [start, end) of its work
// (rows, panels or elements, as documented) so that the pool in ../kernelThreads.ts can split a
// call across threads; `thread` picks that thread's scratch where a kernel needs one.
//
// MADD is f32x4.relaxed_madd (a fused multiply-add where the CPU has one) in the FMA build and
// mul + add in the plain build; the build script swaps the body of madd.

@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c); // MADD
}

/** Columns per panel of the packed right operand of `gemm_panels`: 3 vectors of 4. */
const PANEL: i32 = 12;

@inline function f32at(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
@inline function i32at(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
@inline function setf32(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }
@inline function seti32(p: usize, i: i32, v: i32): void { store<i32>(p + (<usize>i << 2), v); }

/**
 * Packs b [k, n] (row-major) into panels of PANEL columns, bp[q][p][0..PANEL), zero beyond column
 * n. Work items: panels q.
 */
export function pack_panels(b: usize, bp: usize, k: i32, n: i32, start: i32, end: i32, thread: i32): void {
  for (let q = start; q < end; q++) {
    const j0 = q * PANEL;
    const w = min(PANEL, n - j0);
    let dst = bp + <usize>q * <usize>k * <usize>(PANEL * 4);
    let src = b + (<usize>j0 << 2);
    const ldb = <usize>n << 2;
    if (w == PANEL) {
      for (let p = 0; p < k; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        v128.store(dst, v128.load(src, 32), 32);
        dst += PANEL * 4; src += ldb;
      }
    } else {
      for (let p = 0; p < k; p++) {
        for (let c = 0; c < PANEL; c++) setf32(dst, c, c < w ? f32at(src, c) : 0);
        dst += PANEL * 4; src += ldb;
      }
    }
  }
}

/**
 * pack_panels of b = btᵀ, for bt [n, k] (row-major): bp[q][p][c] = bt[q·PANEL + c, p], zero beyond
 * column n. A product a · btᵀ (a gradient's dy · Wᵀ) then needs no transposed copy of bt: each
 * panel is 12 rows of bt, moved by 4 × 4 blocks transposed in registers (k a multiple of 4), else
 * one value at a time. Work items: panels q.
 */
export function pack_panels_t(bt: usize, bp: usize, k: i32, n: i32, start: i32, end: i32, thread: i32): void {
  const ldt = <usize>k << 2;
  for (let q = start; q < end; q++) {
    const j0 = q * PANEL;
    const w = min(PANEL, n - j0);
    const dst = bp + <usize>q * <usize>k * <usize>(PANEL * 4);
    if (w == PANEL && (k & 3) == 0) {
      for (let c = 0; c < PANEL; c += 4) {
        let src = bt + <usize>(j0 + c) * ldt;
        let o = dst + (<usize>c << 2);
        for (let p = 0; p < k; p += 4) {
          const r0 = v128.load(src), r1 = v128.load(src + ldt), r2 = v128.load(src + 2 * ldt), r3 = v128.load(src + 3 * ldt);
          const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
          const t2 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
          v128.store(o, v128.shuffle<i32>(t0, t2, 0, 1, 4, 5));
          v128.store(o + PANEL * 4, v128.shuffle<i32>(t0, t2, 2, 3, 6, 7));
          v128.store(o + 2 * PANEL * 4, v128.shuffle<i32>(t1, t3, 0, 1, 4, 5));
          v128.store(o + 3 * PANEL * 4, v128.shuffle<i32>(t1, t3, 2, 3, 6, 7));
          src += 16; o += 4 * PANEL * 4;
        }
      }
    } else {
      for (let p = 0; p < k; p++) {
        const o = dst + <usize>p * (PANEL * 4);
        for (let c = 0; c < PANEL; c++) setf32(o, c, c < w ? f32at(bt, (j0 + c) * k + p) : 0);
      }
    }
  }
}

/**
 * What gemm_panels does to each output before storing it (`epilogue`): nothing, max(·, 0) (a ReLU
 * after the product: the encoder's f in one pass), or zero where mask ≤ 0 (a ReLU's backward from
 * its output: ∂z = ∂f where f > 0). NaN stays NaN through the ReLU (wasm's max), and a NaN mask
 * zeroes, as the separate kernels do.
 */
const EPILOGUE_NONE: i32 = 0;
const EPILOGUE_RELU: i32 = 1;
const EPILOGUE_MASK: i32 = 2;

@inline function finish(v: v128, epilogue: i32, pm: usize): v128 {
  if (epilogue == EPILOGUE_RELU) return f32x4.max(v, f32x4.splat(0));
  if (epilogue == EPILOGUE_MASK) return v128.and(v, f32x4.gt(v128.load(pm), f32x4.splat(0)));
  return v;
}

/** Stores 3 vectors (a PANEL-wide row of the output) at pc, finished; pm is the mask's same row. */
@inline function storeRow(pc: usize, pm: usize, w: i32, epilogue: i32, a: v128, b: v128, c: v128): void {
  if (w == PANEL) {
    v128.store(pc, finish(a, epilogue, pm));
    v128.store(pc, finish(b, epilogue, pm + 16), 16);
    v128.store(pc, finish(c, epilogue, pm + 32), 32);
  } else {
    storePartial(pc, pm, w, epilogue, a, b, c);
  }
}

/** Stores the first w lanes of a PANEL-wide row (w < PANEL: the last, partial panel), finished. */
function storePartial(pc: usize, pm: usize, w: i32, epilogue: i32, a: v128, b: v128, c: v128): void {
  for (let i = 0; i < w; i++) {
    const v = i < 4 ? a : i < 8 ? b : c;
    const lane = i & 3;
    let x = lane == 0 ? f32x4.extract_lane(v, 0) : lane == 1 ? f32x4.extract_lane(v, 1) : lane == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
    if (epilogue == EPILOGUE_RELU) x = max<f32>(x, 0);
    else if (epilogue == EPILOGUE_MASK && !(f32at(pm, i) > 0)) x = 0;
    setf32(pc, i, x);
  }
}

/**
 * c [m, n] = a [m, k] · b + bias, with b packed by pack_panels (or pack_panels_t) and bias [n] (0:
 * none), each output finished by `epilogue` (finish; mask [m, n] for EPILOGUE_MASK, else 0). Each panel is
 * computed 3 rows at a time with 9 accumulators (3 rows × 12 columns): with the 3 panel vectors and a
 * broadcast that is 13 of the 16 SIMD registers V8 uses, the largest tile that measured fastest.
 * Work items: panels q.
 */
export function gemm_panels(a: usize, bp: usize, bias: usize, c: usize, m: i32, k: i32, n: i32, epilogue: i32, mask: usize, start: i32, end: i32, thread: i32): void {
  const lda = <usize>k << 2;
  const ldc = <usize>n << 2;
  for (let q = start; q < end; q++) {
    const j0 = q * PANEL;
    const w = min(PANEL, n - j0);
    const panel = bp + <usize>q * <usize>k * <usize>(PANEL * 4);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0);
    if (bias != 0) {
      if (w == PANEL) {
        const pb = bias + (<usize>j0 << 2);
        b0 = v128.load(pb); b1 = v128.load(pb, 16); b2 = v128.load(pb, 32);
      } else {
        for (let i = 0; i < w; i++) {
          const x = f32at(bias, j0 + i);
          const lane = i & 3;
          if (i < 4) b0 = lane == 0 ? f32x4.replace_lane(b0, 0, x) : lane == 1 ? f32x4.replace_lane(b0, 1, x) : lane == 2 ? f32x4.replace_lane(b0, 2, x) : f32x4.replace_lane(b0, 3, x);
          else if (i < 8) b1 = lane == 0 ? f32x4.replace_lane(b1, 0, x) : lane == 1 ? f32x4.replace_lane(b1, 1, x) : lane == 2 ? f32x4.replace_lane(b1, 2, x) : f32x4.replace_lane(b1, 3, x);
          else b2 = lane == 0 ? f32x4.replace_lane(b2, 0, x) : lane == 1 ? f32x4.replace_lane(b2, 1, x) : lane == 2 ? f32x4.replace_lane(b2, 2, x) : f32x4.replace_lane(b2, 3, x);
        }
      }
    }
    let i = 0;
    for (; i + 3 <= m; i += 3) {
      let c00 = b0, c01 = b1, c02 = b2;
      let c10 = b0, c11 = b1, c12 = b2;
      let c20 = b0, c21 = b1, c22 = b2;
      let pa = a + <usize>i * lda;
      let pb = panel;
      for (let p = 0; p < k; p++) {
        const v0 = v128.load(pb), v1 = v128.load(pb, 16), v2 = v128.load(pb, 32);
        let s = v128.load32_splat(pa);
        c00 = madd(s, v0, c00); c01 = madd(s, v1, c01); c02 = madd(s, v2, c02);
        s = v128.load32_splat(pa + lda);
        c10 = madd(s, v0, c10); c11 = madd(s, v1, c11); c12 = madd(s, v2, c12);
        s = v128.load32_splat(pa + 2 * lda);
        c20 = madd(s, v0, c20); c21 = madd(s, v1, c21); c22 = madd(s, v2, c22);
        pa += 4; pb += PANEL * 4;
      }
      const at = <usize>i * ldc + (<usize>j0 << 2);
      const pc = c + at, pm = mask + at;
      storeRow(pc, pm, w, epilogue, c00, c01, c02);
      storeRow(pc + ldc, pm + ldc, w, epilogue, c10, c11, c12);
      storeRow(pc + 2 * ldc, pm + 2 * ldc, w, epilogue, c20, c21, c22);
    }
    for (; i < m; i++) {
      let c00 = b0, c01 = b1, c02 = b2;
      let pa = a + <usize>i * lda;
      let pb = panel;
      for (let p = 0; p < k; p++) {
        const s = v128.load32_splat(pa);
        c00 = madd(s, v128.load(pb), c00); c01 = madd(s, v128.load(pb, 16), c01); c02 = madd(s, v128.load(pb, 32), c02);
        pa += 4; pb += PANEL * 4;
      }
      const at = <usize>i * ldc + (<usize>j0 << 2);
      storeRow(c + at, mask + at, w, epilogue, c00, c01, c02);
    }
  }
}

// ---- TopK entries -------------------------------------------------------------------------------
// Per row, the k largest in three steps that read each value at most twice, with SIMD, and leave
// only about 1.5·k values to scalar code (a heap that took every value above its root cost ~10 ns
// a value at k = 5% of n):
// 1. the maxima of 2·k to 8·k groups of the row (lane-strided: a plain SIMD max) and, from a
//    histogram of them, a bound that at least k of the maxima reach. k different groups then each
//    hold a value at least that large, so each of the row's k largest is at least the bound too;
// 2. the row's values at least the bound, their latents in increasing order (candidates);
// 3. the exact k-th largest among the candidates, by radix selection on integer keys that sort like
//    the floats (selectKey), and then the candidates above it and, of those equal to it, the first
//    (lowest-index) ones until there are k.
// So a row's entries come in increasing latent order, and at ties with the k-th value the lower
// index wins, as tf.topk's order (value, then index) would choose; −0 and +0 are equal, as float
// comparisons have them. NaN ranks below every number: it is taken only to fill a row with fewer
// than k eligible numbers (in the heap this replaced, a NaN never displaced a number either).

/**
 * Groups per selected entry in step 1: more give a tighter bound (fewer candidates), fewer less
 * work on the maxima. 2: ~1.3–1.4·k candidates for normal data; 8 where step 2 skips empty blocks
 * (k ≤ n / TOPK_SKIP_BELOW), whose branch is then better predicted (~6% faster at k = 32 of 24,576).
 */
const TOPK_GROUPS_PER_K: i32 = 2;
const TOPK_GROUPS_PER_K_FEW: i32 = 8;
/**
 * Step 2 skips a 4-value block with no candidate by a branch where k ≤ n / this (few blocks have
 * one, and the branch is well predicted); above, it stores every block, branch-free. Measured on
 * rows of 24,576: the branch is faster at k = n / 256 and n / 128, the stores at n / 64 and up.
 */
const TOPK_SKIP_BELOW: i32 = 128;
/** Most histogram bits of a level of selectKey and of the bound (8 KB of counts, in L1). */
const SELECT_BITS: i32 = 11;
/** A thread's scratch before its three buffers: the tie count (4 words), the 16 byte shuffles of step 2 (64 words), the histogram. */
const TOPK_HEAD_WORDS: i32 = 4 + 64 + (1 << SELECT_BITS);

/** A float's order-preserving key (a larger float, a larger unsigned key), with −0 and +0 one key. */
@inline function topkKey(bits: i32): u32 {
  const m = bits >> 31;
  return <u32>((bits ^ (m | <i32>0x80000000)) - m);
}

/** Words of scratch a thread needs for topk_rows on rows of n (registered.ts sizes the call's from it). */
export function topk_scratch_words(n: i32): i32 {
  return TOPK_HEAD_WORDS + 3 * ((n + 7) & ~3);
}

/**
 * The r-th largest (1 ≤ r ≤ count) of the `count` keys at `keys`, which it leaves as they were; at
 * `ties`, how many of the keys equal to it are among the r largest. Each level counts the keys in
 * up to 2^SELECT_BITS equal buckets of the range still open, keeps the bucket that holds the r-th
 * largest and moves its keys to `tmp` (count words, apart from `keys`), until the range is one key.
 * hist: 2^SELECT_BITS words.
 */
function selectKey(keys: usize, count: i32, r: i32, hist: usize, tmp: usize, ties: usize): u32 {
  let lo: u32 = 0xffffffff, hi: u32 = 0;
  for (let i = 0; i < count; i++) { const key = load<u32>(keys + (<usize>i << 2)); lo = min(lo, key); hi = max(hi, key); }
  let src = keys, m = count;
  for (;;) {
    const range = hi - lo;
    if (range == 0) break;
    // About as many buckets as keys: fewer counts to clear and scan for few keys.
    const bits = min(SELECT_BITS, max(4, 32 - clz(m)));
    const width = 32 - clz(range);
    const shift = width > bits ? width - bits : 0;
    const buckets = (range >> shift) + 1;
    memory.fill(hist, 0, <usize>buckets << 2);
    for (let i = 0; i < m; i++) {
      const at = hist + (<usize>((load<u32>(src + (<usize>i << 2)) - lo) >> shift) << 2);
      store<u32>(at, load<u32>(at) + 1);
    }
    let b = buckets - 1;
    for (;;) {
      const c = <i32>load<u32>(hist + (<usize>b << 2));
      if (c >= r) break;
      r -= c;
      b--;
    }
    const bucketLo = lo + (b << shift);
    if (shift == 0) { lo = bucketLo; break; }
    const span = min(hi - bucketLo, (<u32>1 << shift) - 1);
    // Keep the bucket's keys (each written at or before where it was read: `src` may be `tmp`), and
    // their actual range, which ends the search at once when they are all equal.
    let kept = 0;
    lo = 0xffffffff; hi = 0;
    for (let i = 0; i < m; i++) {
      const key = load<u32>(src + (<usize>i << 2));
      if (key - bucketLo > span) continue;
      store<u32>(tmp + (<usize>kept << 2), key);
      kept++;
      lo = min(lo, key); hi = max(hi, key);
    }
    src = tmp; m = kept;
  }
  store<i32>(ties, r);
  return lo;
}

/**
 * Step 1's bound from the `count` group maxima at `maxima` (−∞ for groups with no eligible value,
 * padded with NaN to a multiple of 4): they are counted in up to 2^SELECT_BITS equal buckets between
 * their finite extremes, and the bound is the least of those in the buckets from the top down to
 * where at least k are reached. NaN or −∞ where the histogram cannot tell (no finite maxima, or k
 * reached only in the lowest bucket): then every value is a candidate. hist: 2^SELECT_BITS words;
 * tmp: count words.
 */
function groupBound(maxima: usize, count: i32, k: i32, hist: usize, tmp: usize): f32 {
  const inf = f32x4.splat(Infinity), minusInf = f32x4.splat(-Infinity);
  // pmin and pmax keep the accumulator where a lane is NaN.
  let lo = inf, hi = minusInf;
  for (let i = 0; i < count; i += 4) {
    const x = v128.load(maxima + (<usize>i << 2));
    const finite = f32x4.lt(f32x4.abs(x), inf);
    lo = f32x4.pmin(lo, v128.bitselect(x, inf, finite));
    hi = f32x4.pmax(hi, v128.bitselect(x, minusInf, finite));
  }
  const low = min(min(f32x4.extract_lane(lo, 0), f32x4.extract_lane(lo, 1)), min(f32x4.extract_lane(lo, 2), f32x4.extract_lane(lo, 3)));
  const high = max(max(f32x4.extract_lane(hi, 0), f32x4.extract_lane(hi, 1)), max(f32x4.extract_lane(hi, 2), f32x4.extract_lane(hi, 3)));
  if (!(high > low)) return high == low ? low : <f32>NaN;
  const buckets = 1 << min(SELECT_BITS, max(4, 32 - clz(count)));
  // A maximum's bucket, kept in tmp for the second pass: (x − low)·scale clamped to [0, buckets − 1]
  // (pmax and pmin send NaN and −∞ to 0, +∞ to the top) and rounded by adding 2^23, which leaves
  // the integer in the mantissa's bits (cheaper than a saturating conversion).
  const scale = f32x4.splat(<f32>(buckets - 1) / (high - low)), base = f32x4.splat(low);
  const zero = f32x4.splat(0), top = f32x4.splat(<f32>(buckets - 1)), twoTo23 = f32x4.splat(8388608), mantissa = i32x4.splat(0x7fffff);
  memory.fill(hist, 0, <usize>buckets << 2);
  for (let i = 0; i < count; i += 4) {
    const b = v128.and(f32x4.add(f32x4.pmin(top, f32x4.pmax(zero, f32x4.mul(f32x4.sub(v128.load(maxima + (<usize>i << 2)), base), scale))), twoTo23), mantissa);
    v128.store(tmp + (<usize>i << 2), b);
    let at = hist + (<usize>i32x4.extract_lane(b, 0) << 2); store<u32>(at, load<u32>(at) + 1);
    at = hist + (<usize>i32x4.extract_lane(b, 1) << 2); store<u32>(at, load<u32>(at) + 1);
    at = hist + (<usize>i32x4.extract_lane(b, 2) << 2); store<u32>(at, load<u32>(at) + 1);
    at = hist + (<usize>i32x4.extract_lane(b, 3) << 2); store<u32>(at, load<u32>(at) + 1);
  }
  let from = buckets - 1, reached = 0;
  for (; from > 0; from--) {
    reached += <i32>load<u32>(hist + (<usize>from << 2));
    if (reached >= k) break;
  }
  // From bucket 1 up every counted maximum is a number (NaN and −∞ fall in bucket 0), one per group.
  const first = i32x4.splat(from);
  let least = inf;
  for (let i = 0; i < count; i += 4) {
    least = f32x4.pmin(least, v128.bitselect(v128.load(maxima + (<usize>i << 2)), inf, i32x4.ge_s(v128.load(tmp + (<usize>i << 2)), first)));
  }
  return min(min(f32x4.extract_lane(least, 0), f32x4.extract_lane(least, 1)), min(f32x4.extract_lane(least, 2), f32x4.extract_lane(least, 3)));
}

/**
 * For rows [start, end) of z [., n]: the k largest entries among latents with eligible[j] ≠ 0
 * (eligible = 0: all), in increasing latent order, into idx [., k] (int32) and val [., k] =
 * max(z, 0); at ties with the k-th value the lower index wins. A row with fewer than k eligible
 * latents has them all, padded with (0, 0). scratch: topk_scratch_words(n) words per thread.
 * Work items: rows.
 */
export function topk_rows(z: usize, n: i32, k: i32, eligible: usize, idx: usize, val: usize, scratch: usize, start: i32, end: i32, thread: i32): void {
  const stride = (n + 7) & ~3; // n words and room for a 4-lane store past the last
  const ties = scratch + <usize>thread * <usize>topk_scratch_words(n) * 4;
  const shuffles = ties + 16, hist = shuffles + 256;
  const maxima = ties + (<usize>TOPK_HEAD_WORDS << 2), keys = maxima + (<usize>stride << 2), latents = keys + (<usize>stride << 2);
  // shuffles[m]: the bytes that move the 4-byte lanes set in the 4-bit mask m to the front, in order.
  for (let m = 0; m < 16; m++) {
    let to = 0;
    for (let lane = 0; lane < 4; lane++) if ((m >> lane) & 1) { store<u32>(shuffles + <usize>(m * 16 + to * 4), <u32>(lane * 4) * 0x01010101 + 0x03020100); to++; }
    for (; to < 4; to++) store<u32>(shuffles + <usize>(m * 16 + to * 4), 0);
  }
  let eligibleCount = n;
  if (eligible != 0) { eligibleCount = 0; for (let j = 0; j < n; j++) if (f32at(eligible, j) != 0) eligibleCount++; }
  const skipEmpty = k * TOPK_SKIP_BELOW <= n;
  // Groups of `per` values: lane t of the block of 4 · per values from j is the group of values
  // j + t + 4i (i < per), and each value past the last whole block is a group of its own. That
  // makes at least n / per ≥ min(n, groups per k · k) ≥ k groups.
  const per = max(1, n / min(n, (skipEmpty ? TOPK_GROUPS_PER_K_FEW : TOPK_GROUPS_PER_K) * k));
  const block = 4 * per;
  const minusInf = f32x4.splat(-Infinity), zero = f32x4.splat(0), four = i32x4.splat(4);
  for (let r = start; r < end; r++) {
    const row = z + <usize>r * <usize>n * 4;
    const vi = val + <usize>r * <usize>k * 4;
    const ii = idx + <usize>r * <usize>k * 4;
    if (eligibleCount <= k) {
      let e = 0;
      for (let j = 0; j < n; j++) {
        if (eligible != 0 && f32at(eligible, j) == 0) continue;
        seti32(ii, e, j); setf32(vi, e, max<f32>(f32at(row, j), 0)); e++;
      }
      for (; e < k; e++) { seti32(ii, e, 0); setf32(vi, e, 0); }
      continue;
    }
    // 1. The group maxima (not eligible: −∞; pmax passes over NaN), padded with NaN, and the bound.
    let groups = 0;
    let j = 0;
    for (; j + block <= n; j += block) {
      let most = minusInf;
      for (let t = 0; t < per; t++) {
        const at = <usize>(j + 4 * t) << 2;
        let x = v128.load(row + at);
        if (eligible != 0) x = v128.bitselect(x, minusInf, f32x4.ne(v128.load(eligible + at), zero));
        most = f32x4.pmax(most, x);
      }
      v128.store(maxima + (<usize>groups << 2), most);
      groups += 4;
    }
    for (; j < n; j++) { setf32(maxima, groups, eligible != 0 && f32at(eligible, j) == 0 ? -Infinity : f32at(row, j)); groups++; }
    v128.store(maxima + (<usize>groups << 2), f32x4.splat(NaN));
    const bound = groupBound(maxima, groups, k, hist, keys);
    // 2. The candidates' latents, in increasing order: each block's chosen lanes are moved to the
    // front of a vector stored where the next candidate goes, and the count moves past them.
    let count = 0;
    if (bound > -Infinity) {
      const least = f32x4.splat(bound);
      let lanes = i32x4(0, 1, 2, 3);
      for (j = 0; j + 4 <= n; j += 4) {
        const at = <usize>j << 2;
        let pass = f32x4.ge(v128.load(row + at), least);
        if (eligible != 0) pass = v128.and(pass, f32x4.ne(v128.load(eligible + at), zero));
        const chosen = i32x4.bitmask(pass);
        if (!(skipEmpty && chosen == 0)) {
          v128.store(latents + (<usize>count << 2), i8x16.swizzle(lanes, v128.load(shuffles + (<usize>chosen << 4))));
          count += popcnt(chosen);
        }
        lanes = i32x4.add(lanes, four);
      }
      for (; j < n; j++) if (f32at(row, j) >= bound && (eligible == 0 || f32at(eligible, j) != 0)) { seti32(latents, count, j); count++; }
    }
    if (count >= k) {
      for (let c = 0; c < count; c++) store<u32>(keys + (<usize>c << 2), topkKey(i32at(row, i32at(latents, c))));
    } else {
      // No bound, or one from the lowest bucket, where NaN maxima count too: every eligible latent,
      // NaN keyed 1, below every number's key (−∞'s is 0x00800000).
      count = 0;
      for (j = 0; j < n; j++) {
        if (eligible != 0 && f32at(eligible, j) == 0) continue;
        const v = f32at(row, j);
        store<u32>(keys + (<usize>count << 2), v != v ? 1 : topkKey(i32at(row, j))); seti32(latents, count, j); count++;
      }
    }
    // 3. The k-th largest key, how many of its ties to take, and the entries: branch-free, each
    // candidate is written where the next entry goes and only those taken move on.
    const kth = selectKey(keys, count, k, hist, maxima, ties);
    let tiesLeft = load<i32>(ties);
    let e = 0;
    for (let c = 0; c < count && e < k; c++) {
      const key = load<u32>(keys + (<usize>c << 2));
      const tie = <i32>(key == kth) & <i32>(tiesLeft > 0);
      tiesLeft -= tie;
      const jj = i32at(latents, c);
      seti32(ii, e, jj); setf32(vi, e, max<f32>(f32at(row, jj), 0));
      e += <i32>(key > kth) | tie;
    }
  }
}

// ---- JumpReLU entries ---------------------------------------------------------------------------
// The active set z > θ and the straight-through window |(z − θ)/ε| < ½ of a JumpReLU, with the
// arithmetic of ../../ops/compare.ts (isAbove: z − θ > 0; isWithin: ½ − |u| > 0 for u = (z − θ)/ε).

/** counts[r] = (active, window) sizes of rows [start, end) of z [., n] against θ [n]. Work items: rows. */
export function threshold_counts(z: usize, n: i32, theta: usize, bandwidth: f32, counts: usize, start: i32, end: i32, thread: i32): void {
  const eps = f32x4.splat(bandwidth), half = f32x4.splat(0.5), zero = f32x4.splat(0);
  for (let r = start; r < end; r++) {
    const row = z + <usize>r * <usize>n * 4;
    let active = i32x4.splat(0), window = i32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const d = f32x4.sub(v128.load(row + (<usize>j << 2)), v128.load(theta + (<usize>j << 2)));
      // Comparisons give −1 per true lane: subtracting them counts.
      active = i32x4.sub(active, f32x4.gt(d, zero));
      window = i32x4.sub(window, f32x4.gt(f32x4.sub(half, f32x4.abs(f32x4.div(d, eps))), zero));
    }
    let a = i32x4.extract_lane(active, 0) + i32x4.extract_lane(active, 1) + i32x4.extract_lane(active, 2) + i32x4.extract_lane(active, 3);
    let w = i32x4.extract_lane(window, 0) + i32x4.extract_lane(window, 1) + i32x4.extract_lane(window, 2) + i32x4.extract_lane(window, 3);
    for (; j < n; j++) {
      const d = f32at(row, j) - f32at(theta, j);
      if (d > 0) a++;
      if (<f32>0.5 - abs<f32>(d / bandwidth) > 0) w++;
    }
    seti32(counts, 2 * r, a); seti32(counts, 2 * r + 1, w);
  }
}

/**
 * For rows [start, end): the active latents as entries (activeIdx, activeVal = z) [., ka] and the
 * window's as entries (windowIdx, windowMark = 1) [., kw], each padded with (0, 0). ka and kw must
 * be at least the rows' counts (threshold_counts). Work items: rows.
 */
export function threshold_entries(z: usize, n: i32, theta: usize, bandwidth: f32, ka: i32, activeIdx: usize, activeVal: usize, kw: i32, windowIdx: usize, windowMark: usize, start: i32, end: i32, thread: i32): void {
  const eps = f32x4.splat(bandwidth), half = f32x4.splat(0.5), zero = f32x4.splat(0);
  for (let r = start; r < end; r++) {
    const row = z + <usize>r * <usize>n * 4;
    const ai = activeIdx + <usize>r * <usize>ka * 4, av = activeVal + <usize>r * <usize>ka * 4;
    const wi = windowIdx + <usize>r * <usize>kw * 4, wm = windowMark + <usize>r * <usize>kw * 4;
    let a = 0, w = 0;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const d = f32x4.sub(v128.load(row + (<usize>j << 2)), v128.load(theta + (<usize>j << 2)));
      const either = v128.or(f32x4.gt(d, zero), f32x4.gt(f32x4.sub(half, f32x4.abs(f32x4.div(d, eps))), zero));
      if (!v128.any_true(either)) continue;
      for (let t = j; t < j + 4; t++) {
        const zt = f32at(row, t);
        const dt = zt - f32at(theta, t);
        if (dt > 0) { seti32(ai, a, t); setf32(av, a, zt); a++; }
        if (<f32>0.5 - abs<f32>(dt / bandwidth) > 0) { seti32(wi, w, t); setf32(wm, w, 1); w++; }
      }
    }
    for (; j < n; j++) {
      const zt = f32at(row, j);
      const dt = zt - f32at(theta, j);
      if (dt > 0) { seti32(ai, a, j); setf32(av, a, zt); a++; }
      if (<f32>0.5 - abs<f32>(dt / bandwidth) > 0) { seti32(wi, w, j); setf32(wm, w, 1); w++; }
    }
    for (; a < ka; a++) { seti32(ai, a, 0); setf32(av, a, 0); }
    for (; w < kw; w++) { seti32(wi, w, 0); setf32(wm, w, 0); }
  }
}

// ---- BatchTopK entries --------------------------------------------------------------------------
// The batch's T-th largest value found exactly by radix selection on the floats' bits (mapped to
// unsigned keys that sort like the floats): a histogram of the high 16 bits, then of the low 16
// bits within the bin that holds the T-th largest.

@inline function floatKey(v: f32): u32 {
  const b = reinterpret<u32>(v);
  return (b >> 31) != 0 ? ~b : b | 0x80000000;
}

@inline function keyFloat(k: u32): f32 {
  return reinterpret<f32>((k >> 31) != 0 ? k & 0x7fffffff : ~k);
}

/** The T-th largest of z's `count` values (1 ≤ T ≤ count); hist: scratch of 65,536 u32. One thread. */
export function batch_kth(z: usize, count: i32, t: i32, hist: usize): f32 {
  memory.fill(hist, 0, 65536 * 4);
  for (let i = 0; i < count; i++) {
    const at = hist + (<usize>(floatKey(f32at(z, i)) >> 16) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  let remaining = <u32>t;
  let high: u32 = 0;
  for (let b = 65535; b >= 0; b--) {
    const c = load<u32>(hist + (<usize>b << 2));
    if (c >= remaining) { high = <u32>b; break; }
    remaining -= c;
  }
  memory.fill(hist, 0, 65536 * 4);
  for (let i = 0; i < count; i++) {
    const key = floatKey(f32at(z, i));
    if ((key >> 16) != high) continue;
    const at = hist + (<usize>(key & 0xffff) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  let low: u32 = 0;
  for (let b = 65535; b >= 0; b--) {
    const c = load<u32>(hist + (<usize>b << 2));
    if (c >= remaining) { low = <u32>b; break; }
    remaining -= c;
  }
  return keyFloat((high << 16) | low);
}

/** counts[r] = #{j : z[r, j] ≥ thr and z[r, j] > 0} for rows [start, end). Work items: rows. */
export function at_least_counts(z: usize, n: i32, thr: f32, counts: usize, start: i32, end: i32, thread: i32): void {
  for (let r = start; r < end; r++) {
    const row = z + <usize>r * <usize>n * 4;
    let c = 0;
    for (let j = 0; j < n; j++) { const v = f32at(row, j); if (v >= thr && v > 0) c++; }
    seti32(counts, r, c);
  }
}

/** Those latents of rows [start, end) as entries (idx, val = z) [., kk], padded with (0, 0). Work items: rows. */
export function at_least_entries(z: usize, n: i32, thr: f32, kk: i32, idx: usize, val: usize, start: i32, end: i32, thread: i32): void {
  for (let r = start; r < end; r++) {
    const row = z + <usize>r * <usize>n * 4;
    const ii = idx + <usize>r * <usize>kk * 4, vi = val + <usize>r * <usize>kk * 4;
    let c = 0;
    for (let j = 0; j < n; j++) { const v = f32at(row, j); if (v >= thr && v > 0) { seti32(ii, c, j); setf32(vi, c, v); c++; } }
    for (; c < kk; c++) { seti32(ii, c, 0); setf32(vi, c, 0); }
  }
}

// ---- Products with entries ---------------------------------------------------------------------

/**
 * The column sums of the sparse S the entries (idx, val) hold, for entries [start, end): Σ val over
 * the entries naming each latent, added in entry order (a latent's in row order) to this thread's
 * float32 sums at partials + thread · n (zeroed by the caller, which adds the threads' sums up).
 * With countAbove ≠ 0 the count of those with val > thr instead (the firing counts). Work items:
 * entries.
 */
export function entry_column_sums(idx: usize, val: usize, n: i32, countAbove: i32, thr: f32, partials: usize, start: i32, end: i32, thread: i32): void {
  const out = partials + <usize>thread * <usize>n * 4;
  if (countAbove != 0) {
    for (let e = start; e < end; e++) {
      const at = out + (<usize>i32at(idx, e) << 2);
      store<f32>(at, load<f32>(at) + <f32>(<i32>(f32at(val, e) > thr)));
    }
  } else {
    for (let e = start; e < end; e++) {
      const at = out + (<usize>i32at(idx, e) << 2);
      store<f32>(at, load<f32>(at) + f32at(val, e));
    }
  }
}

/** out[b] = Σ_j val[b, j] · w[idx[b, j]] for w [n, d] (d a multiple of 4). Work items: rows b. */
export function sparse_decode(idx: usize, val: usize, kk: i32, w: usize, d: i32, out: usize, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  for (let b = start; b < end; b++) {
    const o = out + <usize>b * ld;
    for (let p = 0; p < d; p += 4) v128.store(o + (<usize>p << 2), f32x4.splat(0));
    for (let j = 0; j < kk; j++) {
      const e = b * kk + j;
      const v = f32at(val, e);
      if (v == 0) continue;
      const s = f32x4.splat(v);
      const row = w + <usize>i32at(idx, e) * ld;
      for (let p = 0; p < d; p += 4) {
        const at = <usize>p << 2;
        v128.store(o + at, madd(s, v128.load(row + at), v128.load(o + at)));
      }
    }
  }
}

/**
 * out[b, j] = dy[b] · w[idx[b, j]] for dy [B, d], w [n, d] (d a multiple of 4), times step(mask[b, j])
 * where a mask [B, K] is given (0: none). Work items: rows b.
 */
export function row_dots(idx: usize, kk: i32, dy: usize, w: usize, d: i32, out: usize, mask: usize, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  for (let b = start; b < end; b++) {
    const g = dy + <usize>b * ld;
    for (let j = 0; j < kk; j++) {
      const e = b * kk + j;
      if (mask != 0) {
        // times step(mask): 0 at mask ≤ 0 (no dot needed), NaN at a NaN mask, as tfjs's Step gives.
        const m = f32at(mask, e);
        if (!(m > 0)) { setf32(out, e, m != m ? m : 0); continue; }
      }
      const row = w + <usize>i32at(idx, e) * ld;
      let acc = f32x4.splat(0);
      for (let p = 0; p < d; p += 4) {
        const at = <usize>p << 2;
        acc = madd(v128.load(g + at), v128.load(row + at), acc);
      }
      setf32(out, e, f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    }
  }
}

/**
 * The entries [B, kk] grouped by latent (one thread): offsets [n + 1], and for each latent its
 * entries' batch rows (rows) and values (vals), in batch order. Entries of value 0 (padding, or
 * gradients that are 0) are left out: they add nothing. Returns the number of entries kept.
 */
export function group_by_latent(idx: usize, val: usize, entries: i32, kk: i32, n: i32, offsets: usize, rows: usize, vals: usize): i32 {
  for (let j = 0; j <= n; j++) seti32(offsets, j, 0);
  for (let e = 0; e < entries; e++) if (f32at(val, e) != 0) seti32(offsets, i32at(idx, e) + 1, i32at(offsets, i32at(idx, e) + 1) + 1);
  for (let j = 0; j < n; j++) seti32(offsets, j + 1, i32at(offsets, j + 1) + i32at(offsets, j));
  // offsets[j] now is where latent j's entries start; fill with a moving cursor kept in offsets[j],
  // then shift back.
  for (let e = 0; e < entries; e++) {
    const v = f32at(val, e);
    if (v == 0) continue;
    const j = i32at(idx, e);
    const at = i32at(offsets, j);
    seti32(rows, at, e / kk); setf32(vals, at, v);
    seti32(offsets, j, at + 1);
  }
  for (let j = n; j > 0; j--) seti32(offsets, j, i32at(offsets, j - 1));
  seti32(offsets, 0, 0);
  return i32at(offsets, n);
}

/**
 * out[j] = Σ vals[e] · dy[rows[e]] over latent j's entries (0 for none): Sᵀ·dy [n, d] for dy [B, d].
 * Work items: latents j.
 */
export function outer_rows(offsets: usize, rows: usize, vals: usize, dy: usize, d: i32, out: usize, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  for (let j = start; j < end; j++) {
    const o = out + <usize>j * ld;
    const e0 = i32at(offsets, j), e1 = i32at(offsets, j + 1);
    if (e0 == e1) { for (let p = 0; p < d; p += 4) v128.store(o + (<usize>p << 2), f32x4.splat(0)); continue; }
    // The first entry writes, the others add: no separate zeroing pass.
    let s = f32x4.splat(f32at(vals, e0));
    let g = dy + <usize>i32at(rows, e0) * ld;
    for (let p = 0; p < d; p += 4) { const at = <usize>p << 2; v128.store(o + at, f32x4.mul(s, v128.load(g + at))); }
    for (let e = e0 + 1; e < e1; e++) {
      s = f32x4.splat(f32at(vals, e));
      g = dy + <usize>i32at(rows, e) * ld;
      for (let p = 0; p < d; p += 4) { const at = <usize>p << 2; v128.store(o + at, madd(s, v128.load(g + at), v128.load(o + at))); }
    }
  }
}

/**
 * out [d, n] = xᵀ·S for x [B, d]: the transpose of outer_rows with dy = x. Latents are done 4 at a
 * time into the thread's scratch tmp [4 · d] (row-major, contiguous for SIMD), then written to out's
 * columns as 4-float vectors by a 4 × 4 transpose. scratch: tmp = scratch + thread · 4 · d floats.
 * n must be a multiple of 4. Work items: groups of 4 latents.
 */
export function outer_cols(offsets: usize, rows: usize, vals: usize, x: usize, d: i32, n: i32, out: usize, scratch: usize, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  const tmp = scratch + <usize>thread * 4 * ld;
  for (let g4 = start; g4 < end; g4++) {
    for (let c = 0; c < 4; c++) {
      const j = g4 * 4 + c;
      const o = tmp + <usize>c * ld;
      for (let p = 0; p < d; p += 4) v128.store(o + (<usize>p << 2), f32x4.splat(0));
      const e1 = i32at(offsets, j + 1);
      for (let e = i32at(offsets, j); e < e1; e++) {
        const s = f32x4.splat(f32at(vals, e));
        const xr = x + <usize>i32at(rows, e) * ld;
        for (let p = 0; p < d; p += 4) { const at = <usize>p << 2; v128.store(o + at, madd(s, v128.load(xr + at), v128.load(o + at))); }
      }
    }
    const ldo = <usize>n << 2;
    const col = out + (<usize>(g4 * 4) << 2);
    for (let p = 0; p < d; p += 4) {
      const at = <usize>p << 2;
      const r0 = v128.load(tmp + at), r1 = v128.load(tmp + ld + at), r2 = v128.load(tmp + 2 * ld + at), r3 = v128.load(tmp + 3 * ld + at);
      // 4 × 4 transpose: column t of [r0; r1; r2; r3] becomes the 4 values of out row p + t.
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const base = col + <usize>p * ldo;
      v128.store(base, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(base + ldo, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      v128.store(base + 2 * ldo, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      v128.store(base + 3 * ldo, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    }
  }
}

// ---- Optimiser and constraint ------------------------------------------------------------------

/**
 * Adam on elements [start, end) of the gradient g · scale (clipping's factor, 1 for none, applied
 * as tfjs's Multiply would): m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g²,
 * p ← p − (m · lrOverC1) / (√(v / c2) + ε), the arithmetic of ../../adam.ts in the same order, read
 * from p, m, v and written to pOut, mOut, vOut. The constants 1 − β come rounded from the caller, as
 * tfjs's scalars are.
 */
export function adam(p: usize, g: usize, scale: f32, m: usize, v: usize, pOut: usize, mOut: usize, vOut: usize, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, lrOverC1: f32, c2: f32, eps: f32, start: i32, end: i32, thread: i32): void {
  const b1 = f32x4.splat(beta1), nb1 = f32x4.splat(oneMinusBeta1), b2 = f32x4.splat(beta2), nb2 = f32x4.splat(oneMinusBeta2);
  const lr = f32x4.splat(lrOverC1), cc = f32x4.splat(c2), ee = f32x4.splat(eps), sc = f32x4.splat(scale);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const at = <usize>i << 2;
    const gi = f32x4.mul(v128.load(g + at), sc);
    const mi = f32x4.add(f32x4.mul(v128.load(m + at), b1), f32x4.mul(gi, nb1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + at), b2), f32x4.mul(f32x4.mul(gi, gi), nb2));
    v128.store(mOut + at, mi); v128.store(vOut + at, vi);
    const step = f32x4.div(f32x4.mul(mi, lr), f32x4.add(f32x4.sqrt(f32x4.div(vi, cc)), ee));
    v128.store(pOut + at, f32x4.sub(v128.load(p + at), step));
  }
  for (; i < end; i++) {
    const gi = f32at(g, i) * scale;
    const mi = f32at(m, i) * beta1 + gi * oneMinusBeta1;
    const vi = f32at(v, i) * beta2 + gi * gi * oneMinusBeta2;
    setf32(mOut, i, mi); setf32(vOut, i, vi);
    setf32(pOut, i, f32at(p, i) - (mi * lrOverC1) / (sqrt<f32>(vi / c2) + eps));
  }
}

/** out[r] = w[r] / max(‖w[r]‖, eps) for rows of w [., d] (d a multiple of 4). Work items: rows. */
export function normalize_rows(w: usize, out: usize, d: i32, eps: f32, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  for (let r = start; r < end; r++) {
    const row = w + <usize>r * ld;
    const o = out + <usize>r * ld;
    let acc = f32x4.splat(0);
    for (let p = 0; p < d; p += 4) { const x = v128.load(row + (<usize>p << 2)); acc = f32x4.add(acc, f32x4.mul(x, x)); }
    const norm = max<f32>(sqrt<f32>(f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3)), eps);
    const s = f32x4.splat(norm);
    for (let p = 0; p < d; p += 4) { const at = <usize>p << 2; v128.store(o + at, f32x4.div(v128.load(row + at), s)); }
  }
}

/**
 * out = dy where y > 0, else 0: the ReLU's backward pass from its output y (the same values as
 * dy · step(y), in one pass instead of tfjs's Step, Cast and Multiply). Work items: elements.
 */
export function relu_grad(dy: usize, y: usize, out: usize, start: i32, end: i32, thread: i32): void {
  const zero = f32x4.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const at = <usize>i << 2;
    v128.store(out + at, v128.and(v128.load(dy + at), f32x4.gt(v128.load(y + at), zero)));
  }
  for (; i < end; i++) setf32(out, i, f32at(y, i) > 0 ? f32at(dy, i) : 0);
}

/**
 * out[j] = #{r : x[r, j] > thr} for x [rows, n] (n a multiple of 4), as floats: how many rows fire
 * each latent, in one read of x (tfjs needs a Step over [rows, n] and then its column sums). Work
 * items: groups of 4 columns; up to 4 groups (a 64-byte line of each row) are counted together.
 */
export function count_above(x: usize, rows: i32, n: i32, thr: f32, out: usize, start: i32, end: i32, thread: i32): void {
  const t = f32x4.splat(thr);
  const ln = <usize>n << 2;
  let g = start;
  for (; g + 4 <= end; g += 4) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let p = x + (<usize>g << 4);
    for (let r = 0; r < rows; r++, p += ln) {
      // A true lane of gt is −1: subtracting it counts.
      a0 = i32x4.sub(a0, f32x4.gt(v128.load(p), t));
      a1 = i32x4.sub(a1, f32x4.gt(v128.load(p + 16), t));
      a2 = i32x4.sub(a2, f32x4.gt(v128.load(p + 32), t));
      a3 = i32x4.sub(a3, f32x4.gt(v128.load(p + 48), t));
    }
    const o = out + (<usize>g << 4);
    v128.store(o, f32x4.convert_i32x4_s(a0));
    v128.store(o + 16, f32x4.convert_i32x4_s(a1));
    v128.store(o + 32, f32x4.convert_i32x4_s(a2));
    v128.store(o + 48, f32x4.convert_i32x4_s(a3));
  }
  for (; g < end; g++) {
    let a = i32x4.splat(0);
    let p = x + (<usize>g << 4);
    for (let r = 0; r < rows; r++, p += ln) a = i32x4.sub(a, f32x4.gt(v128.load(p), t));
    v128.store(out + (<usize>g << 4), f32x4.convert_i32x4_s(a));
  }
}

/** The 4 float64 sums lo, hi rounded to floats. */
@inline function narrow(lo: v128, hi: v128): v128 {
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * out[r] = x[r] + v (or x[r] − v with subtract ≠ 0) for the rows of x [., d] and v [d]: a row
 * vector added to every row (a bias), which tfjs-wasm broadcasts one value at a time. Work items:
 * rows.
 */
export function add_row(x: usize, v: usize, out: usize, d: i32, subtract: i32, start: i32, end: i32, thread: i32): void {
  const ld = <usize>d << 2;
  const d4 = d & ~3;
  for (let r = start; r < end; r++) {
    const xi = x + <usize>r * ld, oi = out + <usize>r * ld;
    let j = 0;
    if (subtract != 0) {
      for (; j < d4; j += 4) { const at = <usize>j << 2; v128.store(oi + at, f32x4.sub(v128.load(xi + at), v128.load(v + at))); }
      for (; j < d; j++) setf32(oi, j, f32at(xi, j) - f32at(v, j));
    } else {
      for (; j < d4; j += 4) { const at = <usize>j << 2; v128.store(oi + at, f32x4.add(v128.load(xi + at), v128.load(v + at))); }
      for (; j < d; j++) setf32(oi, j, f32at(xi, j) + f32at(v, j));
    }
  }
}

/**
 * Σ x[i]² over elements [start, end), in float64: a gradient's squared norm for clipping, in one read.
 * Called on the calling thread (a gradient's few hundred thousand values take less than waking a helper).
 */
export function sum_squares(x: usize, start: i32, end: i32): f64 {
  let lo = f64x2.splat(0), hi = f64x2.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const sq = f32x4.mul(v, v);
    lo = f64x2.add(lo, f64x2.promote_low_f32x4(sq)); hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<i32>(sq, sq, 2, 3, 2, 3)));
  }
  let total = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
  for (; i < end; i++) { const a = f32at(x, i); total += <f64>(a * a); }
  return total;
}

/** Rows of column_sums' blocks: few enough that their lines stay in cache from one column group to the next. */
const SUM_ROWS_BLOCK: i32 = 16;

/** Adds rows [r0, r1) of x's 16 columns at p (row stride ln) to the float64 sums at acc (8 vectors). */
@inline function sumBlock16(p: usize, ln: usize, r0: i32, r1: i32, acc: usize): void {
  let l0 = v128.load(acc), h0 = v128.load(acc, 16), l1 = v128.load(acc, 32), h1 = v128.load(acc, 48);
  let l2 = v128.load(acc, 64), h2 = v128.load(acc, 80), l3 = v128.load(acc, 96), h3 = v128.load(acc, 112);
  p += <usize>r0 * ln;
  for (let r = r0; r < r1; r++, p += ln) {
    let v = v128.load(p);
    l0 = f64x2.add(l0, f64x2.promote_low_f32x4(v)); h0 = f64x2.add(h0, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
    v = v128.load(p + 16);
    l1 = f64x2.add(l1, f64x2.promote_low_f32x4(v)); h1 = f64x2.add(h1, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
    v = v128.load(p + 32);
    l2 = f64x2.add(l2, f64x2.promote_low_f32x4(v)); h2 = f64x2.add(h2, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
    v = v128.load(p + 48);
    l3 = f64x2.add(l3, f64x2.promote_low_f32x4(v)); h3 = f64x2.add(h3, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
  }
  v128.store(acc, l0); v128.store(acc, h0, 16); v128.store(acc, l1, 32); v128.store(acc, h1, 48);
  v128.store(acc, l2, 64); v128.store(acc, h2, 80); v128.store(acc, l3, 96); v128.store(acc, h3, 112);
}

/** As sumBlock16 for 4 columns (2 vectors of sums). */
@inline function sumBlock4(p: usize, ln: usize, r0: i32, r1: i32, acc: usize): void {
  let l = v128.load(acc), h = v128.load(acc, 16);
  p += <usize>r0 * ln;
  for (let r = r0; r < r1; r++, p += ln) {
    const v = v128.load(p);
    l = f64x2.add(l, f64x2.promote_low_f32x4(v)); h = f64x2.add(h, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
  }
  v128.store(acc, l); v128.store(acc, h, 16);
}

/**
 * out[j] = Σ_r x[r, j] for x [rows, n] (n a multiple of 4), summed in float64 in row order and
 * rounded once: the batch sums of a step (bias gradients, the L1 penalty's column sums) in one read
 * of x. The sums live in sums [n] (float64, this call's columns only, so threads share it) while
 * blocks of SUM_ROWS_BLOCK rows are added a 64-byte line of each row at a time: walking each column
 * down all the rows instead took 4 GB/s at n = 24,576 (a page per row). Work items: groups of 4
 * columns.
 */
export function column_sums(x: usize, rows: i32, n: i32, sums: usize, out: usize, start: i32, end: i32, thread: i32): void {
  const ln = <usize>n << 2;
  const zero = f64x2.splat(0);
  for (let g = start; g < end; g++) { const a = sums + (<usize>g << 5); v128.store(a, zero); v128.store(a, zero, 16); }
  for (let r0 = 0; r0 < rows; r0 += SUM_ROWS_BLOCK) {
    const r1 = min(rows, r0 + SUM_ROWS_BLOCK);
    let g = start;
    for (; g + 4 <= end; g += 4) sumBlock16(x + (<usize>g << 4), ln, r0, r1, sums + (<usize>g << 5));
    for (; g < end; g++) sumBlock4(x + (<usize>g << 4), ln, r0, r1, sums + (<usize>g << 5));
  }
  for (let g = start; g < end; g++) {
    const a = sums + (<usize>g << 5);
    v128.store(out + (<usize>g << 4), narrow(v128.load(a), v128.load(a, 16)));
  }
}

/**
 * out [n, m] = xᵀ for x [m, n], both row-major, by 4 × 4 blocks transposed in registers (the edges
 * not in a whole block one value at a time). Work items: bands of 16 rows of x; for each 4 columns
 * the band's four blocks go to 64 contiguous bytes of each of out's 4 rows (whole cache lines: with
 * one block at a time, the strided writes made it 1.3× JavaScript's speed, not more).
 */
export function transpose(x: usize, out: usize, m: i32, n: i32, start: i32, end: i32, thread: i32): void {
  const ln = <usize>n << 2, lm = <usize>m << 2;
  for (let band = start; band < end; band++) {
    const r0 = band << 4;
    const r1 = min(m, r0 + 16);
    // Whole 4-row blocks of the band, then its last rows one value at a time.
    const blocks = (r1 - r0) >> 2;
    const n4 = n & ~3;
    for (let c = 0; c < n4; c += 4) {
      const at = <usize>c << 2;
      const dst = out + <usize>c * lm + (<usize>r0 << 2);
      for (let b = 0; b < blocks; b++) {
        const src = x + <usize>(r0 + (b << 2)) * ln + at;
        const a = v128.load(src), bb = v128.load(src + ln), cc = v128.load(src + 2 * ln), d = v128.load(src + 3 * ln);
        const t0 = v128.shuffle<i32>(a, bb, 0, 4, 1, 5), t1 = v128.shuffle<i32>(a, bb, 2, 6, 3, 7);
        const t2 = v128.shuffle<i32>(cc, d, 0, 4, 1, 5), t3 = v128.shuffle<i32>(cc, d, 2, 6, 3, 7);
        const o = dst + (<usize>b << 4);
        v128.store(o, v128.shuffle<i32>(t0, t2, 0, 1, 4, 5));
        v128.store(o + lm, v128.shuffle<i32>(t0, t2, 2, 3, 6, 7));
        v128.store(o + 2 * lm, v128.shuffle<i32>(t1, t3, 0, 1, 4, 5));
        v128.store(o + 3 * lm, v128.shuffle<i32>(t1, t3, 2, 3, 6, 7));
      }
    }
    const rb = r0 + (blocks << 2);
    for (let c = n4; c < n; c++) for (let r = r0; r < rb; r++) setf32(out, c * m + r, f32at(x, r * n + c));
    for (let r = rb; r < r1; r++) for (let c = 0; c < n; c++) setf32(out, c * m + r, f32at(x, r * n + c));
  }
}
