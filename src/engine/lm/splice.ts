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
import * as tf from '@tensorflow/tfjs';
import { batchTokenBudget, padBatch, planBatches } from './batching';
import type { LlamaModel } from './llama';

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
}

export interface SpliceOptions {
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
export async function evaluateSplice(model: LlamaModel, documents: readonly Int32Array[], source: SpliceSource, opts: SpliceOptions = {}): Promise<SpliceReport> {
  const t0 = performance.now();
  const D = model.config.dim;
  const V = model.config.vocabSize;
  const sites = source.sites;
  for (const s of sites) if (!Number.isInteger(s) || s < 0 || s > model.config.nLayers) throw new Error(`the SAE reads site ${s}, but the model's residual sites are 0 … ${model.config.nLayers}`);
  const docs = documents.filter((d) => d.length >= 3);
  if (docs.length === 0) throw new Error('no document has 3 or more tokens (BOS, a token and its successor); give longer text to evaluate on.');
  const groups = source.together ? [sites.map((_, j) => j)] : sites.map((_, j) => [j]);
  const reuse = opts.reuse && opts.reuse.documents === docs.length && opts.reuse.groups.length === groups.length
    && opts.reuse.groups.every((g, i) => g.sites.join() === groups[i].map((j) => sites[j]).join()) ? opts.reuse : undefined;
  const conditions: Condition[] = reuse ? ['sae'] : CONDITIONS;
  const means = reuse ? new Map<number, Float32Array>() : await meanResiduals(model, docs, sites, opts.meanBySite);
  const sums = groups.map(() => ({ ce: [0, 0, 0], kl: [0, 0, 0], replaced: 0 }));
  let ceClean = 0, predictions = 0, rowsTotal = 0, tokens = 0;
  const batches = planBatches(docs.map((d) => d.length), batchTokenBudget(model));
  let done = 0;
  for (const batch of batches) {
    const { tokens: ids, B, T } = padBatch(docs, batch);
    // Rows replaced: positions 1 … len−1; predictions scored: positions 1 … len−2 (target p + 1).
    const spliceRows: number[] = [];
    const scoredRows: number[] = [];
    const targets: number[] = [];
    batch.forEach((doc, b) => {
      const d = docs[doc];
      tokens += d.length;
      for (let p = 1; p < d.length; p++) {
        spliceRows.push(b * T + p);
        if (p + 1 < d.length) { scoredRows.push(b * T + p); targets.push(d[p + 1]); }
      }
    });
    const N = B * T;
    const scalars: tf.Tensor[] = [];
    const spliceIdx = tf.tensor1d(spliceRows, 'int32');
    const scatterIdx = tf.tensor2d(spliceRows, [spliceRows.length, 1], 'int32');
    const scoredIdx = tf.tensor1d(scoredRows, 'int32');
    const targetFlat = tf.tensor1d(scoredRows.map((_, i) => i * V + targets[i]), 'int32');
    const clean = model.forward(ids, B, T, { capture: sites });
    const logpClean = tf.tidy(() => tf.gather(tf.logSoftmax(clean.logits!), scoredIdx) as tf.Tensor2D); // [n_scored, V]
    clean.logits!.dispose();
    const nll = (logp: tf.Tensor2D) => tf.neg(tf.sum(tf.gather(tf.reshape(logp, [-1]), targetFlat)));
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
          const from = Math.min(...group.map((j) => sites[j]));
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
            return tf.stack([nll(logp), kl]);
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
    let at = 0;
    ceClean += values[at++][0];
    for (const s of sums) {
      s.replaced += values[at++][0];
      for (let c = 0; c < conditions.length; c++) {
        s.ce[c] += values[at][0];
        s.kl[c] += values[at][1];
        at += 1;
      }
    }
    predictions += scoredRows.length;
    rowsTotal += spliceRows.length;
    done += batch.length;
    opts.onProgress?.(done, docs.length);
  }
  const ce = ceClean / predictions;
  return {
    ce_clean: ce,
    predictions,
    documents: docs.length,
    tokens,
    seconds: (performance.now() - t0) / 1000,
    groups: groups.map((group, g) => {
      let [ceSae, ceZero, ceMean] = sums[g].ce.map((v) => v / predictions);
      let [klSae, klZero, klMean] = sums[g].kl.map((v) => v / predictions);
      if (reuse) ({ ce_zero: ceZero, ce_mean: ceMean, kl_zero: klZero, kl_mean: klMean } = reuse.groups[g]);
      return {
        sites: group.map((j) => sites[j]),
        ce: ceSae, kl: klSae, ce_zero: ceZero, kl_zero: klZero, ce_mean: ceMean, kl_mean: klMean,
        loss_recovered: (ceZero - ceSae) / (ceZero - ce),
        loss_recovered_vs_mean: (ceMean - ceSae) / (ceMean - ce),
        replaced_fraction: sums[g].replaced / (rowsTotal * group.length),
      };
    }),
  };
}

/** Mean residual per site over the non-BOS positions of the documents (given ones kept). */
async function meanResiduals(model: LlamaModel, docs: readonly Int32Array[], sites: number[], given?: Map<number, Float32Array>): Promise<Map<number, Float32Array>> {
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
    batch.forEach((doc, b) => { for (let p = 1; p < docs[doc].length; p++) rowIds.push(b * T + p); });
    const { captured } = model.forward(tokens, B, T, { capture: missing, until: Math.max(...missing) });
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
