// evaluateSplice on a tiny random model against run.c's forward pass (./testing.ts) with the
// residual replaced by hand at positions 1 … len−1, CE and KL scored by hand at positions
// 1 … len−2 (target p + 1).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLlama2cCheckpoint } from '../../io/llama2c';
import { useCpu } from '../testing';
import { LlamaModel } from './llama';
import { evaluateSplice, ratioStandardError, type SpliceSource } from './splice';
import { gaussian, logSoftmax, randomDocuments, randomWeights, referenceForward, serializeV0, tinyConfig, uniform, type ReferenceResult } from './testing';

const c = tinyConfig();
const w = randomWeights(c, 21);
// The length-2 document has no prediction to score and must be left out (of the mean too).
const docs = randomDocuments([9, 6, 2, 5, 3], c.vocabSize, 8);
const used = docs.filter((d) => d.length >= 3);
const clean = used.map((d) => referenceForward(c, w, d));
let model: LlamaModel;

beforeAll(async () => {
  await useCpu();
  model = new LlamaModel(parseLlama2cCheckpoint(serializeV0(c, w), 'tiny.bin'));
});
afterAll(() => model.dispose());

/** Mean CE and KL(clean ‖ run) over predictions at positions 1 … len−2 of the used documents. */
function score(runs: ReferenceResult[]): { ce: number; kl: number; n: number } {
  let ce = 0, kl = 0, n = 0;
  used.forEach((doc, d) => {
    for (let p = 1; p + 1 < doc.length; p++) {
      const lc = logSoftmax(clean[d].logits[p]);
      const ls = logSoftmax(runs[d].logits[p]);
      ce -= ls[doc[p + 1]];
      for (let v = 0; v < c.vocabSize; v++) kl += Math.exp(lc[v]) * (lc[v] - ls[v]);
      n += 1;
    }
  });
  return { ce: ce / n, kl: kl / n, n };
}

/** Per used document: its number of predictions and summed CE (positions 1 … len−2). */
function perDocumentCe(runs: ReferenceResult[]): { n: number[]; ce: number[] } {
  const n: number[] = [], ce: number[] = [];
  used.forEach((doc, d) => {
    let sum = 0, count = 0;
    for (let p = 1; p + 1 < doc.length; p++, count++) sum -= logSoftmax(runs[d].logits[p])[doc[p + 1]];
    n.push(count);
    ce.push(sum);
  });
  return { n, ce };
}

/**
 * Delta-method standard error of (Σ_d abl_d − Σ_d sae_d) / (Σ_d abl_d − Σ_d clean_d) with
 * documents as clusters, written out here apart from the engine's ratioStandardError.
 */
function referenceSe(abl: number[], sae: number[], clean: number[]): number {
  const G = abl.length;
  const num = abl.map((z, d) => z - sae[d]);
  const den = abl.map((z, d) => z - clean[d]);
  const R = num.reduce((x, y) => x + y) / den.reduce((x, y) => x + y);
  const spread = num.reduce((acc, a, d) => acc + (a - R * den[d]) ** 2, 0);
  return Math.sqrt(spread * G / (G - 1)) / Math.abs(den.reduce((x, y) => x + y));
}

/** The used documents run with `replace(doc, site, pos, x)` applied at positions ≥ 1. */
function spliced(replace: (d: number, site: number, pos: number, x: Float64Array) => Float64Array | undefined): ReferenceResult[] {
  return used.map((doc, d) => referenceForward(c, w, doc, (site, pos, x) => (pos >= 1 ? replace(d, site, pos, x) : undefined)));
}

const scaled = (x: ArrayLike<number>, k: number) => Float64Array.from(x, (v) => k * v);
const zero = new Float64Array(c.dim);
const randomMean = (seed: number) => { const g = gaussian(seed); return Float32Array.from({ length: c.dim }, () => 0.3 * g()); };

/** x̂ = scale_j · x for the row's layer j; every row replaced. */
function scaleSource(sites: number[], scales: number[], together: boolean): SpliceSource {
  return {
    sites, together,
    reconstruct: (x) => tf.tidy(() => {
      const k = tf.tensor2d(sites.flatMap((_, j) => Array(c.dim).fill(scales[j])), [1, sites.length * c.dim]);
      return { xHat: tf.mul(x, k) as tf.Tensor2D, replace: tf.ones([x.shape[0], sites.length]) as tf.Tensor2D };
    }),
  };
}

function close(actual: number, expected: number, what: string, rel = 1e-4) {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs reference ${expected}`).toBeLessThanOrEqual(rel * Math.abs(expected));
}

/** One group's figures by the reference: replacement at `site` per condition. */
function referenceGroup(replace: (cond: 'sae' | 'zero' | 'mean', d: number, site: number, pos: number, x: Float64Array) => Float64Array | undefined) {
  const ceClean = score(clean).ce;
  const [sae, z, m] = (['sae', 'zero', 'mean'] as const).map((cond) => score(spliced((d, site, pos, x) => replace(cond, d, site, pos, x))));
  return {
    ce: sae.ce, kl: sae.kl, ce_zero: z.ce, kl_zero: z.kl, ce_mean: m.ce, kl_mean: m.kl,
    loss_recovered: (z.ce - sae.ce) / (z.ce - ceClean),
    loss_recovered_vs_mean: (m.ce - sae.ce) / (m.ce - ceClean),
  };
}

function expectGroup(actual: Record<string, number | number[]>, expected: Record<string, number>) {
  for (const [k, v] of Object.entries(expected)) close(actual[k] as number, v, k);
}

describe('evaluateSplice against run.c with the residual replaced by hand', () => {
  it('one site: clean CE, SAE / zero / mean CE and KL, loss recovered', async () => {
    const mu = randomMean(3);
    const report = await evaluateSplice(model, docs, scaleSource([1], [0.5], false), { meanBySite: new Map([[1, mu]]) });
    const ref = referenceGroup((cond, _d, site, _pos, x) => (site !== 1 ? undefined : cond === 'sae' ? scaled(x, 0.5) : cond === 'zero' ? zero : Float64Array.from(mu)));
    const { ce: ceClean, n } = score(clean);
    expect(n).toBe(7 + 4 + 3 + 1);
    expect(report).toMatchObject({ predictions: 15, documents: 4, tokens: 9 + 6 + 5 + 3 });
    close(report.ce_clean, ceClean, 'ce_clean');
    expect(report.groups).toHaveLength(1);
    const [g] = report.groups;
    expect(g.sites).toEqual([1]);
    expect(g.replaced_fraction).toBe(1);
    expectGroup(g as unknown as Record<string, number>, ref);
    // The figures are far apart, so 1e-4 relative tells them apart (and a sign slip would show).
    // (A random model: zeroing need not hurt more than halving, so loss recovered may be < 0.)
    for (const [a, b] of [[g.ce, report.ce_clean], [g.ce_zero, g.ce], [g.ce_mean, g.ce], [g.ce_zero, report.ce_clean]]) expect(Math.abs(a - b)).toBeGreaterThan(0.01);
    for (const kl of [g.kl, g.kl_zero, g.kl_mean]) expect(kl).toBeGreaterThan(0.01);
    // Standard errors from the per-document sums of the reference's per-prediction losses.
    const perDoc = (cond: 'sae' | 'zero' | 'mean') => perDocumentCe(spliced((_d, site, _pos, x) => (site !== 1 ? undefined : cond === 'sae' ? scaled(x, 0.5) : cond === 'zero' ? zero : Float64Array.from(mu))));
    const [pSae, pZero, pMean, pClean] = [perDoc('sae'), perDoc('zero'), perDoc('mean'), perDocumentCe(clean)];
    expect(report.per_document.predictions).toEqual(pClean.n);
    close(g.loss_recovered_se, referenceSe(pZero.ce, pSae.ce, pClean.ce), 'loss_recovered_se', 1e-3);
    close(g.loss_recovered_vs_mean_se, referenceSe(pMean.ce, pSae.ce, pClean.ce), 'loss_recovered_vs_mean_se', 1e-3);
    expect(g.loss_recovered_se).toBeGreaterThan(0.01);
    console.info(`[splice.test] site 1, x̂ = 0.5x: CE clean ${report.ce_clean.toFixed(5)} / SAE ${g.ce.toFixed(5)} / zero ${g.ce_zero.toFixed(5)} / mean ${g.ce_mean.toFixed(5)}; KL ${g.kl.toFixed(5)} / ${g.kl_zero.toFixed(5)} / ${g.kl_mean.toFixed(5)}; loss recovered ${g.loss_recovered.toFixed(5)} (reference ${ref.loss_recovered.toFixed(5)})`);
  });

  it('two sites, together: false: one group per site, each replaced alone', async () => {
    const means = new Map([[0, randomMean(4)], [3, randomMean(5)]]);
    const report = await evaluateSplice(model, docs, scaleSource([0, 3], [0.5, -0.5], false), { meanBySite: means });
    expect(report.groups.map((g) => g.sites)).toEqual([[0], [3]]);
    [0, 3].forEach((s, j) => {
      const k = [0.5, -0.5][j];
      const ref = referenceGroup((cond, _d, site, _pos, x) => (site !== s ? undefined : cond === 'sae' ? scaled(x, k) : cond === 'zero' ? zero : Float64Array.from(means.get(s)!)));
      expectGroup(report.groups[j] as unknown as Record<string, number>, ref);
      expect(report.groups[j].replaced_fraction).toBe(1);
    });
  });

  it('two sites, together: true, with a replace mask: only the chosen (row, layer) entries change', async () => {
    // Row layer j is replaced where the clean residual's first component is positive; the
    // reconstruction is scale_j times the clean residual at that site (what the source was given).
    const sites = [1, 2], scales = [0.5, -0.3];
    const chosen = (d: number, site: number, pos: number) => clean[d].residuals[site][pos][0] > 0;
    let entries = 0, replaced = 0, margin = Infinity;
    used.forEach((doc, d) => {
      for (let pos = 1; pos < doc.length; pos++) {
        for (const s of sites) {
          entries += 1;
          if (chosen(d, s, pos)) replaced += 1;
          margin = Math.min(margin, Math.abs(clean[d].residuals[s][pos][0]));
        }
      }
    });
    expect(margin).toBeGreaterThan(1e-3); // no row sits on the mask's boundary
    expect(replaced).toBeGreaterThan(entries / 5);
    expect(replaced).toBeLessThan((entries * 4) / 5);
    const source: SpliceSource = {
      sites, together: true,
      reconstruct: (x) => tf.tidy(() => {
        const k = tf.tensor2d(sites.flatMap((_, j) => Array(c.dim).fill(scales[j])), [1, 2 * c.dim]);
        const first = tf.concat(sites.map((_, j) => tf.slice(x, [0, j * c.dim], [-1, 1])), 1);
        return { xHat: tf.mul(x, k) as tf.Tensor2D, replace: tf.cast(tf.greater(first, 0), 'float32') as tf.Tensor2D };
      }),
    };
    const means = new Map([[1, randomMean(6)], [2, randomMean(7)]]);
    const report = await evaluateSplice(model, docs, source, { meanBySite: means });
    expect(report.groups).toHaveLength(1);
    const [g] = report.groups;
    expect(g.sites).toEqual([1, 2]);
    close(g.replaced_fraction, replaced / entries, 'replaced_fraction', 1e-12);
    const ref = referenceGroup((cond, d, site, pos) => {
      const j = sites.indexOf(site);
      if (j < 0 || !chosen(d, site, pos)) return undefined;
      return cond === 'sae' ? scaled(clean[d].residuals[site][pos], scales[j]) : cond === 'zero' ? zero : Float64Array.from(means.get(site)!);
    });
    expectGroup(g as unknown as Record<string, number>, ref);
    // Replacing every row instead gives clearly different figures: the mask mattered.
    const everyRow = referenceGroup((cond, d, site, pos) => {
      const j = sites.indexOf(site);
      if (j < 0) return undefined;
      return cond === 'sae' ? scaled(clean[d].residuals[site][pos], scales[j]) : cond === 'zero' ? zero : Float64Array.from(means.get(site)!);
    });
    expect(Math.abs(everyRow.ce - g.ce)).toBeGreaterThan(1e-2);
  });

  it('together from site 0, masked: rows kept at site 3 carry the site-0 splice, replaced rows the clean reconstruction', async () => {
    const sites = [0, 3], scales = [0.5, 2];
    const chosen = (d: number, site: number, pos: number) => site === 0 || clean[d].residuals[site][pos][0] > 0;
    const margin = Math.min(...used.flatMap((doc, d) => Array.from(doc.slice(1), (_, i) => Math.abs(clean[d].residuals[3][i + 1][0]))));
    expect(margin).toBeGreaterThan(1e-3);
    const source: SpliceSource = {
      sites, together: true,
      reconstruct: (x) => tf.tidy(() => {
        const k = tf.tensor2d(sites.flatMap((_, j) => Array(c.dim).fill(scales[j])), [1, 2 * c.dim]);
        const replace = tf.concat([tf.onesLike(tf.slice(x, [0, 0], [-1, 1])), tf.cast(tf.greater(tf.slice(x, [0, c.dim], [-1, 1]), 0), 'float32')], 1);
        return { xHat: tf.mul(x, k) as tf.Tensor2D, replace: replace as tf.Tensor2D };
      }),
    };
    const means = new Map([[0, randomMean(8)], [3, randomMean(9)]]);
    const report = await evaluateSplice(model, docs, source, { meanBySite: means });
    expect(report.groups.map((g) => g.sites)).toEqual([[0, 3]]);
    const ref = referenceGroup((cond, d, site, pos) => {
      const j = sites.indexOf(site);
      if (j < 0 || !chosen(d, site, pos)) return undefined;
      return cond === 'sae' ? scaled(clean[d].residuals[site][pos], scales[j]) : cond === 'zero' ? zero : Float64Array.from(means.get(site)!);
    });
    expectGroup(report.groups[0] as unknown as Record<string, number>, ref);
    expect(report.groups[0].kl).toBeGreaterThan(0.01);
  });

  it('measures the mean as the plain mean over non-BOS positions when none is given', async () => {
    const mu = new Float64Array(c.dim);
    let rows = 0;
    used.forEach((doc, d) => {
      for (let p = 1; p < doc.length; p++, rows++) for (let j = 0; j < c.dim; j++) mu[j] += clean[d].residuals[1][p][j];
    });
    for (let j = 0; j < c.dim; j++) mu[j] /= rows;
    const report = await evaluateSplice(model, docs, scaleSource([1], [0.5], false));
    const m = score(spliced((_d, site) => (site === 1 ? mu : undefined)));
    close(report.groups[0].ce_mean, m.ce, 'ce_mean');
    close(report.groups[0].kl_mean, m.kl, 'kl_mean');
    const given = await evaluateSplice(model, docs, scaleSource([1], [0.5], false), { meanBySite: new Map([[1, Float32Array.from(mu)]]) });
    close(given.groups[0].ce_mean, report.groups[0].ce_mean, 'ce_mean with the mean given', 1e-5);
    // With the BOS rows counted the mean is a different vector and the figure moves.
    const withBos = new Float64Array(c.dim);
    used.forEach((doc, d) => { for (let p = 0; p < doc.length; p++) for (let j = 0; j < c.dim; j++) withBos[j] += clean[d].residuals[1][p][j] / (rows + used.length); });
    const wrong = score(spliced((_d, site) => (site === 1 ? withBos : undefined)));
    expect(Math.abs(wrong.ce - m.ce)).toBeGreaterThan(1e-3);
  });

  it('reuses the zero- and mean-ablation figures of an earlier report on the same documents', async () => {
    const mu = randomMean(3);
    const first = await evaluateSplice(model, docs, scaleSource([1], [0.5], false), { meanBySite: new Map([[1, mu]]) });
    const second = await evaluateSplice(model, docs, scaleSource([1], [0.8], false), { reuse: first });
    const ref = referenceGroup((cond, _d, site, _pos, x) => (site !== 1 ? undefined : cond === 'sae' ? scaled(x, 0.8) : cond === 'zero' ? zero : Float64Array.from(mu)));
    expectGroup(second.groups[0] as unknown as Record<string, number>, ref);
    // The standard errors need the ablations per document: those come from the earlier report.
    const fresh = await evaluateSplice(model, docs, scaleSource([1], [0.8], false), { meanBySite: new Map([[1, mu]]) });
    close(second.groups[0].loss_recovered_se, fresh.groups[0].loss_recovered_se, 'loss_recovered_se reused', 1e-5);
    close(second.groups[0].loss_recovered_vs_mean_se, fresh.groups[0].loss_recovered_vs_mean_se, 'loss_recovered_vs_mean_se reused', 1e-5);
  });

  it('keeps the tensor count flat', async () => {
    await evaluateSplice(model, docs, scaleSource([1], [0.5], false)); // warm-up
    const before = tf.memory().numTensors;
    await evaluateSplice(model, docs, scaleSource([1], [0.5], false));
    await evaluateSplice(model, docs, scaleSource([0, 3], [0.5, 2], true), { meanBySite: new Map([[0, randomMean(1)]]) });
    await expect(evaluateSplice(model, docs, scaleSource([4], [1], false))).rejects.toThrow(/reads site 4, which this model cannot splice: site 4 is outside the model's 3 blocks \(residual sites 0 … 3\)/);
    await expect(evaluateSplice(model, [docs[2]], scaleSource([1], [1], false))).rejects.toThrow(/no document has 3 or more tokens/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('ratioStandardError: loss recovered\'s standard error, documents as clusters', () => {
  it('matches a value worked out by hand', () => {
    // a = (1, 2, 4), b = (2, 2, 4): R = 7/8; a − R·b = (−0.75, 0.25, 0.5), squares 0.875;
    // se = sqrt(3/2 · 0.875) / 8 = sqrt(1.3125) / 8 = 0.143205…
    expect(ratioStandardError([1, 2, 4], [2, 2, 4])).toBeCloseTo(Math.sqrt(1.3125) / 8, 12);
    expect(ratioStandardError([1, 2, 4], [-2, -2, -4])).toBeCloseTo(Math.sqrt(1.3125) / 8, 12);
    expect(ratioStandardError([1], [2])).toBeNaN();
    expect(() => ratioStandardError([1, 2], [1])).toThrow(/2 numerators but 1 denominators/);
  });

  it('agrees with a bootstrap over documents of hand-made per-prediction losses', () => {
    // 40 documents of 10 … 89 predictions. Clean CE ~ 3 nats; zero ablation costs each document
    // its own gap, and the SAE recovers its own share of it (0.8 ± 0.15 by document), so the
    // predictions of a document move together, as real ones do.
    const g = gaussian(7), u = uniform(8);
    const docs = Array.from({ length: 40 }, () => {
      const n = 10 + Math.floor(80 * u());
      const gap = 2 + 0.5 * g(), share = 0.8 + 0.15 * g();
      const clean = Array.from({ length: n }, () => 3 + 0.8 * g());
      return {
        clean,
        zero: clean.map((c) => c + gap + 0.5 * g()),
        sae: clean.map((c) => c + (1 - share) * gap + 0.3 * g()),
      };
    });
    const sum = (v: number[]) => v.reduce((x, y) => x + y, 0);
    const recovered = (ds: typeof docs) => {
      const [z, s, c] = (['zero', 'sae', 'clean'] as const).map((k) => sum(ds.map((d) => sum(d[k]))));
      return (z - s) / (z - c);
    };
    const se = ratioStandardError(docs.map((d) => sum(d.zero) - sum(d.sae)), docs.map((d) => sum(d.zero) - sum(d.clean)));
    // Bootstrap: resample whole documents with replacement, 4,000 times (fixed seed).
    const pick = uniform(9);
    const draws = Array.from({ length: 4000 }, () => recovered(docs.map(() => docs[Math.floor(pick() * docs.length)])));
    const mean = sum(draws) / draws.length;
    const bootstrapSe = Math.sqrt(sum(draws.map((r) => (r - mean) ** 2)) / (draws.length - 1));
    console.info(`[splice.test] loss recovered ${recovered(docs).toFixed(4)}: delta-method se ${se.toFixed(5)}, bootstrap se ${bootstrapSe.toFixed(5)}`);
    // The delta method's G/(G−1) makes it ~1.3% wider than the bootstrap at 40 documents; the
    // bootstrap's own sampling error is ~1%. A missing sqrt or a factor of n is far outside 5%.
    expect(Math.abs(se / bootstrapSe - 1)).toBeLessThan(0.05);
    // Counting each prediction as independent would understate the error by far here.
    const flat = docs.flatMap((d) => d.zero.map((z, i) => ({ a: z - d.sae[i], b: z - d.clean[i] })));
    const perPrediction = ratioStandardError(flat.map((f) => f.a), flat.map((f) => f.b));
    expect(perPrediction).toBeLessThan(0.6 * bootstrapSe);
  });
});
