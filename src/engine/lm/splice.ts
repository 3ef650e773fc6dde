// Judging an SAE by the language model: its reconstruction replaces the residual stream at its
// layer(s), at every position except BOS, and the rest of the model runs as usual.
//   CE            mean next-token cross-entropy (nats) over predictions made at positions
//                 1 … T−2 of each document (the prediction at BOS cannot change; the last token
//                 has no target)
//   KL            mean over the same predictions of KL(p_clean ‖ p_spliced)
//   loss recovered = (CE_zero − CE_sae) / (CE_zero − CE_clean)   (SAELens's "CE loss score")
//   vs mean ablation = (CE_mean − CE_sae) / (CE_mean − CE_clean)  (stricter: zeroing is far worse
//                 than a uniform guess)
// Zero and mean ablation replace exactly the (position, layer) entries the SAE replaces.
// Each loss-recovered figure comes with its standard error (ratioStandardError): a few held-out
// documents give only a thousand-odd predictions, and the figure's later digits are then noise.
import * as tf from '@tensorflow/tfjs';
import { batchTokenBudget, padBatch, planBatches } from './batching';
import { siteName, siteProblem } from './hooks';
import type { TransformerModel } from './transformer';

/** Something that reconstructs residuals: an SAE (src/engine/trainer.ts), PCA, the identity … */
export interface SpliceSource {
  /** Model residual sites (0 … n_layers) of the row layers, in row order. */
  sites: number[];
  /** Raw rows [n, L·D] → reconstructions [n, L·D] and which layer of each row to replace [n, L]. */
  reconstruct(xRaw: tf.Tensor2D): { xHat: tf.Tensor2D; replace: tf.Tensor2D };
  /** Replace all layers in one pass (RouteSAE) rather than one layer per pass. */
  together: boolean;
}

export interface SpliceGroupResult {
  /** Sites replaced in this pass. */
  sites: number[];
  ce: number;
  kl: number;
  ce_zero: number;
  kl_zero: number;
  ce_mean: number;
  kl_mean: number;
  loss_recovered: number;
  loss_recovered_vs_mean: number;
  /** Standard errors of the two figures above, documents as clusters (NaN from one document). */
  loss_recovered_se: number;
  loss_recovered_vs_mean_se: number;
  /** Fraction of (position, layer) entries replaced (1 unless the SAE routes). */
  replaced_fraction: number;
}

export interface SpliceReport {
  ce_clean: number;
  /** Predictions scored. */
  predictions: number;
  documents: number;
  tokens: number;
  groups: SpliceGroupResult[];
  seconds: number;
  /**
   * Per-document sums of the per-prediction figures, in document order: the clusters of the
   * standard errors, and where a later `reuse` takes the ablations' sums from.
   */
  per_document: {
    predictions: number[];
    ce_clean: number[];
    /** Per group: summed CE (nats) with the SAE, zero- and mean-ablated. */
    groups: { ce: number[]; ce_zero: number[]; ce_mean: number[] }[];
  };
}

/**
 * Standard error of the ratio of totals R = Σ a_g / Σ b_g over clusters g (documents), by the
 * delta method (linearisation of a ratio estimator):
 *   se² = G / (G − 1) · Σ_g (a_g − R·b_g)² / (Σ_g b_g)².
 * Loss recovered is such a ratio with a = CE_zero − CE_sae and b = CE_zero − CE_clean summed over
 * a document's predictions (the 1/n of the means cancels). Whole documents are the units because
 * the predictions of one document are correlated: counting each prediction as independent would
 * understate the error. NaN with fewer than two clusters (nothing to measure the spread with).
 */
export function ratioStandardError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const G = a.length;
  if (b.length !== G) throw new Error(`ratioStandardError: ${G} numerators but ${b.length} denominators`);
  if (G < 2) return NaN;
  let sumA = 0, sumB = 0;
  for (let g = 0; g < G; g++) { sumA += a[g]; sumB += b[g]; }
  const ratio = sumA / sumB;
  let squares = 0;
  for (let g = 0; g < G; g++) squares += (a[g] - ratio * b[g]) ** 2;
  return Math.sqrt((G / (G - 1)) * squares) / Math.abs(sumB);
}

/** Standard error of (ablated − sae) / (ablated − clean) from per-document sums. */
function recoveredSe(ablated: number[], sae: number[], clean: number[]): number {
  return ratioStandardError(ablated.map((z, d) => z - sae[d]), ablated.map((z, d) => z - clean[d]));
}

export interface SpliceOptions {
  /**
   * Whether every document starts with BOS (default true): then position 0 is neither replaced nor
   * scored, as its residual is the same for every document. Without BOS (an SAE trained with
   * TransformerLens's prepend_bos false) every position is a token of the text.
   */
  bos?: boolean;
  /** Mean residual per site for mean ablation; missing sites are measured on these documents. */
  meanBySite?: Map<number, Float32Array>;
  onProgress?: (done: number, total: number) => void;
  /**
   * An earlier report on the same documents and sites: its zero- and mean-ablation figures are
   * reused and those passes skipped (they do not depend on the SAE), halving the work of a
   * periodic evaluation.
   */
  reuse?: SpliceReport;
}

type Condition = 'sae' | 'zero' | 'mean';
const CONDITIONS: Condition[] = ['sae', 'zero', 'mean'];

/** Run the clean model and every splice of `source` over the documents (each [BOS, …]). */
export async function evaluateSplice(model: TransformerModel, documents: readonly Int32Array[], source: SpliceSource, opts: SpliceOptions = {}): Promise<SpliceReport> {
  const t0 = performance.now();
  const D = model.config.dim;
  const V = model.config.vocabSize;
  const sites = source.sites;
  for (const s of sites) {
    const problem = siteProblem(s, model.config);
    if (problem) throw new Error(`the SAE reads ${siteName(s, model.config.nLayers)}, which this model cannot splice: ${problem}`);
  }
  const first = opts.bos === false ? 0 : 1;
  const docs = documents.filter((d) => d.length >= first + 2);
  if (docs.length === 0) throw new Error(first ? 'no document has 3 or more tokens (BOS, a token and its successor); give longer text to evaluate on.' : 'no document has 2 or more tokens (a token and its successor); give longer text to evaluate on.');
  const groups = source.together ? [sites.map((_, j) => j)] : sites.map((_, j) => [j]);
  const reuse = opts.reuse && opts.reuse.documents === docs.length && opts.reuse.groups.length === groups.length && opts.reuse.per_document
    && opts.reuse.groups.every((g, i) => g.sites.join() === groups[i].map((j) => sites[j]).join()) ? opts.reuse : undefined;
  const conditions: Condition[] = reuse ? ['sae'] : CONDITIONS;
  const means = reuse ? new Map<number, Float32Array>() : await meanResiduals(model, docs, sites, first, opts.meanBySite);
  // Per document: CE summed over its predictions, clean and per (group, condition).
  const docPredictions = new Array<number>(docs.length).fill(0);
  const docClean = new Array<number>(docs.length).fill(0);
  const docCe = groups.map(() => CONDITIONS.map(() => new Array<number>(docs.length).fill(0)));
  const sums = groups.map(() => ({ kl: [0, 0, 0], replaced: 0 }));
  let predictions = 0, rowsTotal = 0, tokens = 0;
  const batches = planBatches(docs.map((d) => d.length), batchTokenBudget(model));
  let done = 0;
  for (const batch of batches) {
    const { tokens: ids, B, T } = padBatch(docs, batch);
    // Rows replaced: positions first … len−1; predictions scored: positions first … len−2 (target p + 1).
    const spliceRows: number[] = [];
    const scoredRows: number[] = [];
    const scoredDoc: number[] = [];
    const targets: number[] = [];
    batch.forEach((doc, b) => {
      const d = docs[doc];
      tokens += d.length;
      for (let p = first; p < d.length; p++) {
        spliceRows.push(b * T + p);
        if (p + 1 < d.length) { scoredRows.push(b * T + p); scoredDoc.push(doc); targets.push(d[p + 1]); }
      }
    });
    const N = B * T;
    const scalars: tf.Tensor[] = [];
    const spliceIdx = tf.tensor1d(spliceRows, 'int32');
    const scatterIdx = tf.tensor2d(spliceRows, [spliceRows.length, 1], 'int32');
    const scoredIdx = tf.tensor1d(scoredRows, 'int32');
    const targetFlat = tf.tensor1d(scoredRows.map((_, i) => i * V + targets[i]), 'int32');
    // The clean pass also keeps the residual before each site's block, where a spliced pass starts.
    const starts = [...new Set(sites.map(Math.floor))].filter((s) => s > 0);
    const clean = model.forward(ids, B, T, { capture: [...new Set([...sites, ...starts])] });
    const logpClean = tf.tidy(() => tf.gather(tf.logSoftmax(clean.logits!), scoredIdx) as tf.Tensor2D); // [n_scored, V]
    clean.logits!.dispose();
    // Per-prediction losses [n_scored] (summed per document on the CPU, for the standard errors).
    const nll = (logp: tf.Tensor2D) => tf.neg(tf.gather(tf.reshape(logp, [-1]), targetFlat));
    scalars.push(tf.tidy(() => nll(logpClean)));
    const { xHat, replace } = tf.tidy(() => {
      const xRaw = tf.concat(sites.map((s) => tf.gather(clean.captured.get(s)!, spliceIdx)), 1) as tf.Tensor2D; // [n, L·D]
      return source.reconstruct(xRaw);
    });
    try {
      for (const group of groups) {
        scalars.push(tf.tidy(() => tf.sum(tf.gather(replace, tf.tensor1d(group, 'int32'), 1))));
        for (const condition of conditions) {
          const values = new Map<number, { v: tf.Tensor2D; m: tf.Tensor2D }>();
          for (const j of group) {
            values.set(sites[j], tf.tidy(() => ({
              v: condition === 'sae' ? tf.slice(xHat, [0, j * D], [-1, D]) as tf.Tensor2D
                : condition === 'zero' ? tf.zeros([spliceRows.length, D]) as tf.Tensor2D
                  : tf.tile(tf.tensor2d(means.get(sites[j])!, [1, D]), [spliceRows.length, 1]) as tf.Tensor2D,
              m: tf.slice(replace, [0, j], [-1, 1]) as tf.Tensor2D,
            })));
          }
          const from = Math.floor(Math.min(...group.map((j) => sites[j])));
          const run = model.forward(ids, B, T, {
            from,
            start: from === 0 ? undefined : clean.captured.get(from),
            splice: (site, x) => {
              const r = values.get(site);
              if (!r) return null;
              return tf.tidy(() => tf.add(x, tf.scatterND(scatterIdx, tf.mul(tf.sub(r.v, tf.gather(x, spliceIdx)), r.m), [N, D])) as tf.Tensor2D);
            },
          });
          for (const r of values.values()) tf.dispose([r.v, r.m]);
          scalars.push(tf.tidy(() => {
            const logp = tf.gather(tf.logSoftmax(run.logits!), scoredIdx) as tf.Tensor2D;
            const kl = tf.sum(tf.mul(tf.exp(logpClean), tf.sub(logpClean, logp)));
            return tf.concat([nll(logp), tf.reshape(kl, [1])]); // [n_scored + 1]: losses, then the KL sum
          }));
          run.logits!.dispose();
          tf.dispose([...run.captured.values()]);
        }
      }
    } finally {
      tf.dispose([xHat, replace, logpClean, spliceIdx, scatterIdx, scoredIdx, targetFlat, ...clean.captured.values()]);
    }
    const values = await Promise.all(scalars.map((s) => s.data()));
    tf.dispose(scalars);
    const n = scoredRows.length;
    const addPerDocument = (losses: ArrayLike<number>, into: number[]) => { for (let i = 0; i < n; i++) into[scoredDoc[i]] += losses[i]; };
    for (let i = 0; i < n; i++) docPredictions[scoredDoc[i]] += 1;
    let at = 0;
    addPerDocument(values[at++], docClean);
    sums.forEach((s, g) => {
      s.replaced += values[at++][0];
      for (let c = 0; c < conditions.length; c++) {
        addPerDocument(values[at], docCe[g][CONDITIONS.indexOf(conditions[c])]);
        s.kl[c] += values[at][n];
        at += 1;
      }
    });
    predictions += scoredRows.length;
    rowsTotal += spliceRows.length;
    done += batch.length;
    opts.onProgress?.(done, docs.length);
  }
  const total = (v: number[]) => v.reduce((a, b) => a + b, 0);
  const ce = total(docClean) / predictions;
  // Reused: the ablations' per-document sums (and their means) come from the earlier report.
  const perGroup = groups.map((_, g) => {
    const [sae, zero, mean] = docCe[g];
    return reuse ? { ce: sae, ce_zero: reuse.per_document.groups[g].ce_zero, ce_mean: reuse.per_document.groups[g].ce_mean } : { ce: sae, ce_zero: zero, ce_mean: mean };
  });
  return {
    ce_clean: ce,
    predictions,
    documents: docs.length,
    tokens,
    seconds: (performance.now() - t0) / 1000,
    groups: groups.map((group, g) => {
      const per = perGroup[g];
      let [ceZero, ceMean] = [total(per.ce_zero) / predictions, total(per.ce_mean) / predictions];
      const ceSae = total(per.ce) / predictions;
      let [klSae, klZero, klMean] = sums[g].kl.map((v) => v / predictions);
      if (reuse) ({ ce_zero: ceZero, ce_mean: ceMean, kl_zero: klZero, kl_mean: klMean } = reuse.groups[g]);
      return {
        sites: group.map((j) => sites[j]),
        ce: ceSae, kl: klSae, ce_zero: ceZero, kl_zero: klZero, ce_mean: ceMean, kl_mean: klMean,
        loss_recovered: (ceZero - ceSae) / (ceZero - ce),
        loss_recovered_vs_mean: (ceMean - ceSae) / (ceMean - ce),
        loss_recovered_se: recoveredSe(per.ce_zero, per.ce, docClean),
        loss_recovered_vs_mean_se: recoveredSe(per.ce_mean, per.ce, docClean),
        replaced_fraction: sums[g].replaced / (rowsTotal * group.length),
      };
    }),
    per_document: { predictions: docPredictions, ce_clean: docClean, groups: perGroup },
  };
}

/** Mean residual per site over the positions from `first` (1: past BOS) of the documents (given ones kept). */
async function meanResiduals(model: TransformerModel, docs: readonly Int32Array[], sites: number[], first: number, given?: Map<number, Float32Array>): Promise<Map<number, Float32Array>> {
  const D = model.config.dim;
  const out = new Map<number, Float32Array>();
  const missing: number[] = [];
  for (const s of sites) {
    const m = given?.get(s);
    if (m && m.length !== D) throw new Error(`the mean for site ${s} has ${m.length} values; the model's width is ${D}`);
    if (m) out.set(s, m); else missing.push(s);
  }
  if (missing.length === 0) return out;
  const sums = missing.map(() => new Float64Array(D));
  let rows = 0;
  for (const batch of planBatches(docs.map((d) => d.length), batchTokenBudget(model))) {
    const { tokens, B, T } = padBatch(docs, batch);
    const rowIds: number[] = [];
    batch.forEach((doc, b) => { for (let p = first; p < docs[doc].length; p++) rowIds.push(b * T + p); });
    const { captured } = model.forward(tokens, B, T, { capture: missing, until: Math.ceil(Math.max(...missing)) });
    const parts = missing.map((s) => tf.tidy(() => tf.sum(tf.gather(captured.get(s)!, tf.tensor1d(rowIds, 'int32')), 0)));
    tf.dispose([...captured.values()]);
    const values = await Promise.all(parts.map((p) => p.data()));
    tf.dispose(parts);
    values.forEach((v, i) => { for (let j = 0; j < D; j++) sums[i][j] += v[j]; });
    rows += rowIds.length;
  }
  missing.forEach((s, i) => out.set(s, Float32Array.from(sums[i], (v) => v / rows)));
  return out;
}
