// The steps of the linear SAEs (linear.ts: TopK, BatchTopK, JumpReLU) with the sparse products of
// ops/sparse.ts, their backward passes written out. A dense step multiplies [B, d_sae] matrices that
// are zero but for k entries a row; here only the encoder's product is dense, and the decoder
// forward, ∂W_dec, ∂f and ∂W_enc touch the active latents (+ AuxK's, + JumpReLU's window) of each
// row. The arithmetic is that of tfjs's autodiff through the variants' losses (the same sums in
// another order), so the steps agree to rounding — which sparseLinear.test.ts checks on losses,
// every gradient and the parameters after 20 steps.
//
// Forward, for x [B, d_in]:
//   x_c = x − b_dec,  z = x_c W_enc + b_enc,  f = ReLU(TopK_k(z)) as entries,  x̂ = f W_dec + b_dec
//   recon = mean_b ‖x̂ − x‖²;  AuxK (losses.ts auxKLoss) on the top k_aux positive z among dead latents.
// Backward, with g = ∂recon/∂x̂ = 2 (x̂ − x) / B and g_a likewise for AuxK's reconstruction:
//   ∂f = g W_decᵀ at the entries (∂z = ∂f where f > 0),  ∂W_dec = fᵀ g (+ f_aᵀ g_a),
//   ∂W_enc = x_cᵀ ∂z,  ∂b_enc = Σ_b ∂z,  ∂b_dec = Σ_b g − W_enc ∂b_enc.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from '../configBase';
import { fusedProduct, productPlusBias } from '../ops/matmul';
import { addMany, addRowVector, subRowVector, sumOfSquares, sumRows } from '../ops/reduce';
import { entryColumnSums, positiveEntries, sparseDecode, sparseKernelsAvailable, sparseOuterCols, sparseOuterRows, sparseRowDots, sparseRowDotsWherePositive, thresholdEntries, topkEntries, type Entries } from '../ops/sparse';
import type { Params, PlannedSelection, SparseStep, StepContext } from './types';

/**
 * Whether the sparse products can run this step: the backend has them and the widths suit the
 * kernels (rows of whole SIMD vectors).
 */
export function sparseStepApplies(p: Params): boolean {
  const [dIn, dSae] = (p.W_enc as tf.Variable<tf.Rank.R2>).shape;
  return sparseKernelsAvailable() && dIn % 4 === 0 && dSae % 4 === 0;
}

/**
 * z = (x − b_dec) W_enc + b_enc [B, d_sae] as the steps below compute it: a selection plan's
 * pre-activations (Variant.sparseStepPlan), which the step then reuses.
 */
export function sparsePreActivations(p: Params, x: tf.Tensor2D): tf.Tensor2D {
  return productPlusBias(subRowVector(x, p.b_dec as tf.Tensor1D), p.W_enc as tf.Tensor2D, p.b_enc as tf.Tensor1D);
}

/**
 * Free the pre-activations z [B, d_sae] once the selections have read them, before the gradients
 * are made: the step's tidy would hold them to its end, at its peak (memoryBudget.ts). A z the
 * step was given (a selection plan's) belongs to the caller.
 */
function freeSpent(z: tf.Tensor2D, planned: PlannedSelection | undefined): void {
  if (z !== planned?.pre) z.dispose();
}

/**
 * The gradients shared by the linear SAEs' sparse steps, given the centred input x_c, the
 * ∂recon/∂x̂ (plus any other gradient of x̂) g, the entries f that decode to x̂ and ∂z at the
 * entries that carry one: ∂W_enc = x_cᵀ ∂z, ∂b_enc = Σ_b ∂z, ∂b_dec = Σ_b g − W_enc ∂b_enc.
 */
function encoderGrads(p: Params, xc: tf.Tensor2D, g: tf.Tensor2D, dZ: Entries): { W_enc: tf.Tensor; b_enc: tf.Tensor; b_dec: tf.Tensor } {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>;
  const n = wEnc.shape[1];
  const dBEnc = entryColumnSums(dZ, n);
  return { W_enc: sparseOuterCols(dZ, xc, n), b_enc: dBEnc, b_dec: decoderBiasGradient(wEnc, g, dBEnc) };
}

/**
 * ∂b_dec = Σ_b g − W_enc ∂b_enc: through x̂ directly, and through the centring x_c = x − b_dec of the
 * encoder (−(Σ_b ∂z) W_encᵀ, a matrix-vector product rather than a [B, d_in] one).
 */
export function decoderBiasGradient(wEnc: tf.Tensor2D, g: tf.Tensor2D, dBEnc: tf.Tensor1D): tf.Tensor1D {
  return tf.sub(sumRows(g), tf.reshape(fusedProduct(wEnc, tf.reshape(dBEnc, [-1, 1]) as tf.Tensor2D), [-1])) as tf.Tensor1D;
}

/**
 * From a reconstruction x̂ of x: the difference x̂ − x, recon = mean_b ‖x̂ − x‖² and its gradient
 * g = ∂recon/∂x̂ = 2 (x̂ − x) / B.
 */
export function reconstructionTerms(x: tf.Tensor2D, xHat: tf.Tensor2D): { diff: tf.Tensor2D; recon: tf.Scalar; g: tf.Tensor2D } {
  const diff = tf.sub(xHat, x) as tf.Tensor2D;
  return { diff, recon: tf.div(sumOfSquares(diff), x.shape[0]) as tf.Scalar, g: tf.mul(diff, 2 / x.shape[0]) as tf.Tensor2D };
}

/**
 * x̂ = f W_dec + b_dec from the entries, the difference x̂ − x, recon = mean_b ‖x̂ − x‖² and its
 * gradient g = ∂recon/∂x̂ = 2 (x̂ − x) / B: the reconstruction every sparse step starts from.
 */
function reconstruct(x: tf.Tensor2D, f: Entries, wDec: tf.Tensor2D, bDec: tf.Tensor1D): { xHat: tf.Tensor2D; diff: tf.Tensor2D; recon: tf.Scalar; g: tf.Tensor2D } {
  const xHat = addRowVector(sparseDecode(f, wDec), bDec);
  return { xHat, ...reconstructionTerms(x, xHat) };
}

/**
 * AuxK (losses.ts auxKLoss) on the residual −diff = x − x̂ of the main reconstruction, with its
 * gradients added to ∂W_dec and to the ∂z entries: 0 and unchanged when α = 0 or no latent is dead.
 */
function auxKTerms(p: Params, z: tf.Tensor2D, diff: tf.Tensor2D, ctx: StepContext, auxK: number, auxKCoefficient: number, dWDec: tf.Tensor, dZ: Entries): { aux: tf.Scalar; dWDec: tf.Tensor; dZ: Entries } {
  if (auxKCoefficient <= 0 || ctx.knownNoneDead?.()) return { aux: tf.scalar(0), dWDec, dZ };
  const wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const [B, n] = z.shape;
  const auxEntries = topkEntries(z, Math.min(auxK, n), ctx.deadMask);
  const residual = tf.neg(diff); // x − x̂, a constant of the backward pass
  const auxDiff = tf.sub(sparseDecode(auxEntries, wDec), residual) as tf.Tensor2D;
  const scale = tf.minimum(tf.div(tf.sum(ctx.deadMask), auxK), 1);
  const aux = tf.mul(tf.mul(tf.mean(tf.sum(tf.square(auxDiff), 1)), scale), auxKCoefficient) as tf.Scalar;
  const gAux = tf.mul(auxDiff, tf.mul(scale, (2 * auxKCoefficient) / B)) as tf.Tensor2D;
  const dFAux = sparseRowDotsWherePositive(auxEntries, gAux, wDec);
  // The two decoder-sized terms are freed once summed: the step would hold them to its end.
  const dWDecAux = sparseOuterRows(auxEntries, gAux, n);
  const dWDecSum = tf.add(dWDec, dWDecAux);
  tf.dispose([dWDec, dWDecAux]);
  return {
    aux,
    dWDec: dWDecSum,
    dZ: { indices: tf.concat([dZ.indices, auxEntries.indices], 1) as tf.Tensor2D, values: tf.concat([dZ.values, dFAux], 1) as tf.Tensor2D },
  };
}

/**
 * The loss of the TopK family (recon + α · AuxK: topk.ts, batchtopk.ts) and its gradients, with
 * sparse products; `select` picks the entries f of the pre-activations z (TopK per row, BatchTopK
 * over the batch).
 */
export function kSparseStep(p: Params, x: tf.Tensor2D, ctx: StepContext, select: (z: tf.Tensor2D) => Entries, auxK: number, auxKCoefficient: number): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const n = wEnc.shape[1];
  const xc = subRowVector(x, bDec);
  const z = ctx.plannedSelection?.pre ?? productPlusBias(xc, wEnc, bEnc); // [B, n]
  const entries = select(z);
  const { xHat, diff, recon, g } = reconstruct(x, entries, wDec, bDec);
  const dF = sparseRowDotsWherePositive(entries, g, wDec);
  let dWDec = sparseOuterRows(entries, g, n) as tf.Tensor;
  let dZ: Entries = { indices: entries.indices, values: dF };
  const withAux = auxKTerms(p, z, diff, ctx, auxK, auxKCoefficient, dWDec, dZ);
  freeSpent(z, ctx.plannedSelection);
  const { aux } = withAux;
  dWDec = withAux.dWDec;
  dZ = withAux.dZ;
  return {
    parts: { total: tf.add(recon, aux) as tf.Scalar, recon, sparsity: tf.scalar(0), aux, xHat, entries },
    grads: { ...encoderGrads(p, xc, g, dZ), W_dec: dWDec },
  };
}

/**
 * The JumpReLU loss of jumprelu.ts (recon + λ · L0, straight-through estimators with a rectangle
 * kernel of width ε) and its gradients, with sparse products over the active latents (z > θ) and,
 * for ∂θ, the latents in the kernel's window:
 *   ∂f = g W_decᵀ at both sets;  ∂z = ∂f on the active set;
 *   ∂θ_j = −(θ_j/ε) Σ_{b in window} ∂f_bj − (λ/(ε B)) · #window_j.
 */
export function jumpreluSparseStep(p: Params, x: tf.Tensor2D, live: LiveParams, planned?: PlannedSelection): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const theta = p.threshold as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const eps = live.bandwidth;
  const xc = subRowVector(x, bDec);
  const z = planned?.pre ?? productPlusBias(xc, wEnc, bEnc); // [B, n]
  const { active, window } = thresholdEntries(z, theta, eps, planned && [planned.widths[0], planned.widths[1]]);
  freeSpent(z, planned);
  const { xHat, recon, g } = reconstruct(x, active, wDec, bDec);
  const sparsity = tf.mul(tf.div(tf.sum(tf.step(active.values)), B), live.lambda) as tf.Scalar;
  // Active values are z > θ > 0, so step(value) is 1 on entries and 0 on padding.
  const dF = sparseRowDotsWherePositive(active, g, wDec);
  const dFWindow = tf.mul(sparseRowDots(window.indices, g, wDec), window.values) as tf.Tensor2D;
  const reconTheta = tf.mul(entryColumnSums({ indices: window.indices, values: dFWindow }, n), tf.div(tf.neg(theta), eps));
  const l0Theta = tf.mul(tf.mul(entryColumnSums(window, n), -1 / (eps * B)), live.lambda);
  return {
    parts: { total: tf.add(recon, sparsity) as tf.Scalar, recon, sparsity, aux: tf.scalar(0), xHat, entries: active },
    grads: { ...encoderGrads(p, xc, g, { indices: active.indices, values: dF }), W_dec: sparseOuterRows(active, g, n), threshold: tf.add(reconTheta, l0Theta) },
  };
}

/**
 * The Matryoshka BatchTopK loss of matryoshka.ts and its gradients with sparse products: the
 * entries split by dictionary block s = [m_{s−1}, m_s) (a block's entries keep their values, the
 * others become 0, which every sparse op skips), each prefix's reconstruction the sum of its blocks'
 * decodes, and, as ops/nestedDecode.ts writes out, with G_s = Σ_{j ≥ s} ∂recon/∂x̂_j:
 * ∂f = G_s W_decᵀ on block s's entries and ∂W_dec[block s] = f_sᵀ G_s.
 */
export function matryoshkaSparseStep(p: Params, x: tf.Tensor2D, ctx: StepContext, entries: (z: tf.Tensor2D) => Entries, prefixes: readonly number[], auxK: number, auxKCoefficient: number): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const xc = subRowVector(x, bDec);
  const z = ctx.plannedSelection?.pre ?? productPlusBias(xc, wEnc, bEnc); // [B, n]
  const f = entries(z);
  const blocks = prefixes.map((m, s) => [s === 0 ? 0 : prefixes[s - 1], m] as const);
  const inBlock = blocks.map(([a, b]) => tf.cast(tf.logicalAnd(tf.greaterEqual(f.indices, a), tf.less(f.indices, b)), 'float32'));
  const blockEntries = inBlock.map((mask) => ({ indices: f.indices, values: tf.mul(f.values, mask) as tf.Tensor2D }));
  // x̂_j = Σ_{s ≤ j} f_s W_dec[block s] + b_dec, and its difference from x.
  const diffs: tf.Tensor2D[] = [];
  let partial: tf.Tensor2D = tf.neg(xc) as tf.Tensor2D;
  for (const e of blockEntries) { partial = tf.add(partial, sparseDecode(e, wDec)) as tf.Tensor2D; diffs.push(partial); }
  const count = blocks.length;
  const recon = tf.div(addMany(diffs.map((d) => tf.sum(tf.square(d)))), count * B) as tf.Scalar;
  const last = diffs[count - 1];
  const xHat = tf.add(last, x) as tf.Tensor2D;
  const gs: tf.Tensor2D[] = new Array(count);
  for (let s = count - 1; s >= 0; s--) {
    const g = tf.mul(diffs[s], 2 / (count * B)) as tf.Tensor2D;
    gs[s] = s === count - 1 ? g : (tf.add(gs[s + 1], g) as tf.Tensor2D);
  }
  const dF = addMany(gs.map((g, s) => tf.mul(sparseRowDots(f.indices, g, wDec), tf.mul(inBlock[s], tf.step(f.values))))) as tf.Tensor2D;
  const dWDecBlocks = blocks.map(([a, b], s) => sparseOuterRows({ indices: tf.sub(f.indices, tf.scalar(a, 'int32')) as tf.Tensor2D, values: blockEntries[s].values }, gs[s], b - a));
  const withAux = auxKTerms(p, z, last, ctx, auxK, auxKCoefficient, tf.concat(dWDecBlocks, 0), { indices: f.indices, values: dF });
  freeSpent(z, ctx.plannedSelection);
  return {
    parts: { total: tf.add(recon, withAux.aux) as tf.Scalar, recon, sparsity: tf.scalar(0), aux: withAux.aux, xHat, entries: f },
    grads: { ...encoderGrads(p, xc, gs[0], withAux.dZ), W_dec: withAux.dWDec },
  };
}

/**
 * The ReLU + L1 loss of relu.ts (recon + λ · mean_b Σ_i f_i ‖W_dec,i‖, losses.ts weightedL1) and
 * its gradients with sparse products over the active latents (z > 0). With c_i = Σ_b f_bi and
 * r_i = ‖W_dec,i‖: ∂z = g W_decᵀ + (λ/B) r at the entries, and ∂W_dec = fᵀ g + (λ c_i / (B r_i)) W_dec,i
 * (the penalty's pull on the norms, a dense row scaling).
 */
export function reluSparseStep(p: Params, x: tf.Tensor2D, live: LiveParams, planned?: PlannedSelection): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bEnc = p.b_enc as tf.Variable<tf.Rank.R1>, bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const xc = subRowVector(x, bDec);
  const z = planned?.pre ?? productPlusBias(xc, wEnc, bEnc); // [B, n]
  const f = positiveEntries(z, planned?.widths[0]);
  freeSpent(z, planned);
  const { xHat, recon, g } = reconstruct(x, f, wDec, bDec);
  const norms = tf.sqrt(tf.sum(tf.square(wDec), 1)) as tf.Tensor1D; // [n]
  const columnSums = entryColumnSums(f, n); // c_i = Σ_b f_bi
  const sparsity = tf.mul(tf.div(tf.sum(tf.mul(columnSums, norms)), B), live.lambda) as tf.Scalar;
  const penaltyPerLatent = tf.mul(norms, live.lambda / B); // ∂sparsity/∂f_bi = (λ/B) r_i
  const dF = tf.mul(tf.add(sparseRowDots(f.indices, g, wDec), tf.gather(penaltyPerLatent, f.indices)), tf.step(f.values)) as tf.Tensor2D;
  const normPull = tf.reshape(tf.div(tf.mul(columnSums, live.lambda / B), norms), [n, 1]);
  return {
    parts: { total: tf.add(recon, sparsity) as tf.Scalar, recon, sparsity, aux: tf.scalar(0), xHat, entries: f },
    grads: { ...encoderGrads(p, xc, g, { indices: f.indices, values: dF }), W_dec: tf.add(sparseOuterRows(f, g, n), tf.mul(wDec, normPull)) },
  };
}

/**
 * The Gated loss of gated.ts (recon + λ · weighted L1 of ReLU(π_gate) + the gate's own
 * reconstruction through a frozen decoder) and its gradients with sparse products over the open
 * gates (π_gate > 0); the magnitudes f = ReLU(π_mag) live on the same entries (zero where π_mag ≤ 0).
 * With h = x_c W_enc, π_mag = e^{r_mag} h + b_mag, r_i = ‖W_dec,i‖ and c_i = Σ_b ReLU(π_gate)_bi:
 *   ∂π_mag = g W_decᵀ where f > 0;  ∂π_gate = (λ/B) r + g_aux W_decᵀ at the open gates;
 *   ∂h = ∂π_gate + e^{r_mag} ∂π_mag;  ∂r_mag = Σ_b ∂π_mag e^{r_mag} h;  ∂b_mag, ∂b_gate: column sums;
 *   ∂W_dec = fᵀ g + (λ c_i / (B r_i)) W_dec,i (the aux decoder passes none).
 * At the initialisation (r_mag = b_mag = 0, W_enc = W_decᵀ with unit rows: linear.ts initLinearSae)
 * a latent that first fires alone in its row reconstructs that row's x_c projected on W_dec,i, so
 * its ∂π_mag is exactly 0, and what this step and the dense one compute there is rounding noise
 * (~1e-8). Adam, with no second moment yet, turns the noise into an r_mag / b_mag step of up to lr
 * of either sign. Any other rounding of the dense loss parts there as well (h as (x − b_dec) W_enc
 * instead of linear.ts centredEncode, for one), so sparseLinear.test.ts compares 20-step runs that
 * start with the magnitudes off the gate.
 */
export function gatedSparseStep(p: Params, x: tf.Tensor2D, live: LiveParams): SparseStep {
  const wEnc = p.W_enc as tf.Variable<tf.Rank.R2>, wDec = p.W_dec as tf.Variable<tf.Rank.R2>;
  const bDec = p.b_dec as tf.Variable<tf.Rank.R1>;
  const bGate = p.b_gate as tf.Variable<tf.Rank.R1>, rMag = p.r_mag as tf.Variable<tf.Rank.R1>, bMag = p.b_mag as tf.Variable<tf.Rank.R1>;
  const [B] = x.shape;
  const n = wEnc.shape[1];
  const xc = subRowVector(x, bDec);
  const h = productPlusBias(xc, wEnc); // [B, n]
  const piGate = addRowVector(h, bGate);
  const gate = positiveEntries(piGate); // ReLU(π_gate) as entries
  // h at the open gates [B, K], gathered from the flat h: tfjs-wasm's gather with batchDims reads out of bounds.
  const rowStart = tf.mul(tf.range(0, B, 1, 'int32'), tf.scalar(n, 'int32')).reshape([B, 1]);
  const hAt = tf.gather(tf.reshape(h, [-1]) as tf.Tensor, tf.add(gate.indices, rowStart)) as tf.Tensor2D;
  tf.dispose([h, piGate]); // [B, d_sae], spent: see freeSpent
  const scaleAt = tf.gather(tf.exp(rMag), gate.indices) as unknown as tf.Tensor2D; // e^{r_mag} [B, K]
  const piMag = tf.add(tf.mul(scaleAt, hAt), tf.gather(bMag, gate.indices)) as tf.Tensor2D;
  // Padding (gate value 0) must stay 0 in f as well.
  const open = tf.step(gate.values);
  const f: Entries = { indices: gate.indices, values: tf.mul(tf.relu(piMag), open) as tf.Tensor2D };
  const { xHat, recon, g } = reconstruct(x, f, wDec, bDec);
  const norms = tf.sqrt(tf.sum(tf.square(wDec), 1)) as tf.Tensor1D;
  const gateSums = entryColumnSums(gate, n);
  const sparsity = tf.mul(tf.div(tf.sum(tf.mul(gateSums, norms)), B), live.lambda) as tf.Scalar;
  const viaGate = addRowVector(sparseDecode(gate, wDec), bDec);
  const auxDiff = tf.sub(viaGate, x) as tf.Tensor2D;
  const aux = tf.mean(tf.sum(tf.square(auxDiff), 1)) as tf.Scalar;
  const gAux = tf.mul(auxDiff, 2 / B) as tf.Tensor2D;
  const dMag = sparseRowDotsWherePositive(f, g, wDec); // ∂π_mag
  const dGate = tf.mul(tf.add(sparseRowDots(gate.indices, gAux, wDec), tf.gather(tf.mul(norms, live.lambda / B), gate.indices)), open) as tf.Tensor2D; // ∂π_gate
  const dH = tf.add(dGate, tf.mul(dMag, scaleAt)) as tf.Tensor2D;
  const normPull = tf.reshape(tf.div(tf.mul(gateSums, live.lambda / B), norms), [n, 1]);
  const { W_enc, b_enc, b_dec } = encoderGrads(p, xc, g, { indices: gate.indices, values: dH });
  b_enc.dispose(); // ∂ of Σ_b ∂h: the gated layout has no b_enc (b_gate and b_mag take column sums below)
  return {
    parts: { total: tf.add(tf.add(recon, sparsity), aux) as tf.Scalar, recon, sparsity, aux, xHat, entries: f },
    grads: {
      W_enc,
      b_gate: entryColumnSums({ indices: gate.indices, values: dGate }, n),
      r_mag: entryColumnSums({ indices: gate.indices, values: tf.mul(tf.mul(dMag, scaleAt), hAt) as tf.Tensor2D }, n),
      b_mag: entryColumnSums({ indices: gate.indices, values: dMag }, n),
      W_dec: tf.add(sparseOuterRows(f, g, n), tf.mul(wDec, normPull)),
      b_dec,
    },
  };
}
