// Latent dashboards in SAEDashboard's Neuronpedia "feature JSON" shape: the batch object its
// NeuronpediaRunner writes as batch-N.json, { model_id, layer, sae_set, features: [feature, …] },
// of which one element of `features` is what Neuronpedia's manual dashboard page renders.
//
// Sources (stored public code, read for this file):
// - jbloomAus/SAEDashboard sae_dashboard/neuronpedia/neuronpedia_converter.py (NeuronpediaConverter:
//   _process_feature_tables / _logits / _histograms / _activations, _parse_sequence_group_title,
//   _create_batch_data) and neuronpedia_dashboard.py (NeuronpediaDashboardFeature.to_dict,
//   NeuronpediaDashboardActivation.to_dict, NeuronpediaDashboardBatch.to_dict);
// - sae_dashboard/sae_vis_runner.py (what each histogram is computed over), utils_fns.py
//   (HistogramData.from_data, RollingCorrCoef), data_parsing_fns.py (get_logits_table_data,
//   add_neuron_alignment_data), sequence_data_generator.py (get_indices_dict, the sequence groups),
//   components_config.py (50 bins, 10 logit rows, 3 table rows), neuronpedia_runner.py (buffer=None:
//   each sequence is a whole prompt minus its first token; n_prompts_total × n_tokens_in_prompt
//   tokens are scanned);
// - hijohnnylin/neuronpedia apps/webapp/app/manual-dashboard/manual-dashboard.tsx (the fields it
//   reads from one pasted feature) and example-data.tsx, components/feature-stats.tsx.
//
// Semantics, per feature (SAEDashboard → here):
// - feature_index: the latent's index.
// - frac_nonzero: fraction of scanned tokens where the feature's activation is > 0 (SAEDashboard
//   parses it back from the title "DENSITY = x.xxx%", so it carries 5 decimals there) → the exact
//   fraction of loaded rows where the latent fired.
// - freq_hist_data_bar_heights / _values: HistogramData.from_data over the NON-ZERO activations
//   only: 50 equal bins from their min to their max (torch.histc), bar_values = bin centres
//   (min + (i + ½)·(max − min)/50, rounded to 5 decimals), bar_heights = counts. No activations →
//   both empty. (All values equal: torch.histc widens the range by 1 each side, so every count
//   lands in bin 25 and every centre is that value; mirrored.)
// - logits_hist_data_bar_heights / _values: the same histogram (50 bins, own min..max) of the
//   feature's direct logit effect over the whole vocabulary, W_dec[f] · W_U.
// - pos_str / pos_values: the 10 largest entries of that logit vector, largest first (token strings
//   via the vocab); neg_str / neg_values: the 10 smallest, most negative first. Values rounded to 5.
//   Logit lens here = the language model's `directionLogits` (final RMSNorm weight folded into W_U,
//   as TransformerLens's fold_ln; SAEDashboard's runner has loaded models both with fold_ln — 2024
//   — and with from_pretrained_no_processing — now). Without a language model the four logit
//   fields are EMPTY arrays (Neuronpedia then hides those plots); nothing is made up.
// - activations: one entry per shown sequence, {bin_min, bin_max, bin_contains, tokens, values,
//   qualifying_token_index}. The "TOP ACTIVATIONS<br>MAX = m" group becomes bin_min −1,
//   bin_max m (the feature's max over all tokens), bin_contains −1; the "INTERVAL a - b<br>CONTAINS
//   p%" quantile groups become bin_min a, bin_max b, bin_contains p/100. `tokens` are the
//   sequence's token strings and `values` the feature's activation on EVERY token of it (rounded to
//   4 decimals, as SequenceData does); qualifying_token_index = the index in `tokens` of the token
//   the sequence was chosen for. Here: the top group only — the latent's top-k rows (default 20,
//   the feature browser's contexts), each a window of tokens around the row within its document
//   (10 before, 4 after by default) rather than a whole prompt; no quantile interval groups.
// - n_prompts_total / n_tokens_in_prompt: the runner's prompt count and tokens per prompt. Here:
//   the number of documents of the loaded rows (by document ids, else by restarts of positions,
//   else the whole file as one sequence) and the longest document's length in tokens.
// - dataset: the runner's HuggingFace dataset path → the loaded activation file's name.
// - neuron_alignment_indices / _values / _l1: the top 3 coordinates of the decoder direction W_dec[f]
//   (in the SAE's input space) by signed value, their values, and |value| / ‖W_dec[f]‖₁. Empty when
//   the decoder is not one row per latent in the input space (multi-layer variants).
// Left out (not computed here, so not written): correlated_neurons_* and correlated_features_*
// (SAEDashboard's Pearson / cosine tables; Neuronpedia shows them only for source sets that enable
// them), decoder_weights_dist (attention SAEs with DFA), dfa_* per activation, vector.
// The batch level carries model_id and layer only when the activations came from the loaded
// language model (its file name, and the block index of the hook); sae_set is Neuronpedia's source
// name for the SAE, which only the uploader knows.
//
// Activations and decoder rows are the SAE's own (SAEDashboard's runner first calls
// fold_W_dec_norm, which rescales both so decoder rows have unit norm; the two agree for variants
// that keep unit-norm decoder rows).
import { histogram } from '../engine/analysis';
import type { FeatureSummary } from '../engine/featureStats';
import type { Trainer } from '../engine/trainer';
import { contextsOf, forEachLatentBlock, inMemory } from './features';
import { exportSource } from './languageModel';
import { WorkspaceError, type Workspace } from './workspace';

/** SAEDashboard's histogram and table sizes (ActsHistogramConfig, LogitsHistogramConfig, LogitsTableConfig, FeatureTablesConfig). */
export const DASHBOARD_BINS = 50;
export const DASHBOARD_LOGIT_ROWS = 10;
export const DASHBOARD_TABLE_ROWS = 3;

export interface NeuronpediaActivation {
  bin_min: number;
  bin_max: number;
  bin_contains: number;
  tokens: string[];
  /** The latent's activation on every token of `tokens`. */
  values: number[];
  /** Index in `tokens` of the top-activating token the sequence was chosen for. */
  qualifying_token_index: number;
}

export interface NeuronpediaFeature {
  feature_index: number;
  activations: NeuronpediaActivation[];
  frac_nonzero: number;
  freq_hist_data_bar_heights: number[];
  freq_hist_data_bar_values: number[];
  logits_hist_data_bar_heights: number[];
  logits_hist_data_bar_values: number[];
  pos_str: string[];
  pos_values: number[];
  neg_str: string[];
  neg_values: number[];
  n_prompts_total: number;
  n_tokens_in_prompt: number;
  dataset: string;
  neuron_alignment_indices: number[];
  neuron_alignment_values: number[];
  neuron_alignment_l1: number[];
}

export interface NeuronpediaBatch {
  model_id?: string;
  layer?: number;
  features: NeuronpediaFeature[];
}

const round = (v: number, places: number) => {
  const s = 10 ** places;
  return Math.round(v * s) / s + 0; // + 0: no -0 in the JSON
};

/**
 * SAEDashboard's HistogramData.from_data: `bins` equal bins over [min, max] of the values
 * (torch.histc), bar_values = bin centres rounded to 5 decimals, bar_heights = counts.
 */
export function dashboardHistogram(values: ArrayLike<number>, bins = DASHBOARD_BINS): { bar_heights: number[]; bar_values: number[] } {
  const n = values.length;
  if (n === 0) return { bar_heights: [], bar_values: [] };
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) { const v = values[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === hi) {
    // torch.histc widens an empty range to [v − 1, v + 1] (every value in the middle bin); the
    // centres come from linspace(v, v), all v.
    const heights = new Array<number>(bins).fill(0);
    heights[Math.floor(bins / 2)] = n;
    return { bar_heights: heights, bar_values: new Array<number>(bins).fill(round(lo, 5)) };
  }
  const h = histogram(Array.from(values), bins, [lo, hi]);
  const width = (hi - lo) / bins;
  return { bar_heights: h.counts, bar_values: h.edges.slice(0, bins).map((e) => round(e + width / 2, 5)) };
}

/** Documents of the loaded rows and the longest one's length (see n_prompts_total above). */
function documentsOf(ws: Workspace, rows: number): { count: number; longest: number } {
  if (ws.docIds) {
    const lengths = new Map<number, number>();
    for (const id of ws.docIds.ids) lengths.set(id, (lengths.get(id) ?? 0) + 1);
    let longest = 0;
    for (const n of lengths.values()) if (n > longest) longest = n;
    return { count: lengths.size, longest };
  }
  if (ws.positions && rows > 0) {
    const p = ws.positions.ids;
    let count = 1, run = 1, longest = 1;
    for (let r = 1; r < rows; r++) {
      if (p[r] === p[r - 1] + 1) run++;
      else { count++; run = 1; }
      if (run > longest) longest = run;
    }
    return { count, longest };
  }
  return { count: rows > 0 ? 1 : 0, longest: rows };
}

/** The top 3 coordinates of a decoder row by signed value, their values and share of the row's L1 norm. */
function neuronAlignment(dir: Float32Array): Pick<NeuronpediaFeature, 'neuron_alignment_indices' | 'neuron_alignment_values' | 'neuron_alignment_l1'> {
  let l1 = 0;
  for (const v of dir) l1 += Math.abs(v);
  const top = Array.from(dir.keys()).sort((a, b) => dir[b] - dir[a] || a - b).slice(0, DASHBOARD_TABLE_ROWS);
  return {
    neuron_alignment_indices: top,
    neuron_alignment_values: top.map((i) => round(dir[i], 5)),
    neuron_alignment_l1: top.map((i) => round(Math.abs(dir[i]) / l1, 5)),
  };
}

type LogitFields = Pick<NeuronpediaFeature, 'logits_hist_data_bar_heights' | 'logits_hist_data_bar_values' | 'pos_str' | 'pos_values' | 'neg_str' | 'neg_values'>;

/** The logit histogram and the top / bottom 10 tokens of a logit vector [V] (all empty without one). */
function logitFields(values: Float32Array | null, name: (id: number) => string): LogitFields {
  if (!values) return { logits_hist_data_bar_heights: [], logits_hist_data_bar_values: [], pos_str: [], pos_values: [], neg_str: [], neg_values: [] };
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
  const pos = order.slice(0, DASHBOARD_LOGIT_ROWS);
  const neg = order.slice(-DASHBOARD_LOGIT_ROWS).reverse();
  const hist = dashboardHistogram(values);
  return {
    logits_hist_data_bar_heights: hist.bar_heights,
    logits_hist_data_bar_values: hist.bar_values,
    pos_str: pos.map(name),
    pos_values: pos.map((id) => round(values[id], 5)),
    neg_str: neg.map(name),
    neg_values: neg.map((id) => round(values[id], 5)),
  };
}

export interface DashboardOptions {
  /** Logit lens: a decoder direction [d_in] → its effect on every vocab logit [V]. Without it the logit fields are empty. */
  logits?: (direction: Float32Array) => Promise<Float32Array>;
  /** Top contexts per latent (at most the overview's k; default all of them, 20 in the browser). */
  k?: number;
  before?: number;
  after?: number;
}

/**
 * Neuronpedia / SAEDashboard dashboards of `latents` over the loaded (in-memory) activations: one
 * pass over every row for the activation histograms, the latents' top windows encoded once.
 * Plain JSON-ready data (see the top of this file for each field's meaning).
 */
export async function neuronpediaDashboards(ws: Workspace, trainer: Trainer, overview: FeatureSummary, latents: readonly number[], opts: DashboardOptions = {}): Promise<NeuronpediaBatch> {
  const ds = inMemory(ws, trainer);
  const dSae = trainer.cfg.d_sae;
  for (const j of latents) {
    if (!Number.isInteger(j) || j < 0 || j >= dSae) throw new WorkspaceError(`latent ${j} does not exist (d_sae ${dSae}).`);
  }
  const k = opts.k ?? Infinity;
  const view: FeatureSummary = { ...overview, top: overview.top.map((t) => t.slice(0, k)) };
  const contexts = await contextsOf(ws, trainer, ds, view, latents, { before: opts.before, after: opts.after });

  // Every fired activation of each requested latent (the frequency histogram).
  const fired = latents.map(() => [] as number[]);
  await forEachLatentBlock(ds, trainer, (f, n) => {
    latents.forEach((j, li) => {
      const out = fired[li];
      for (let i = 0; i < n; i++) { const v = f[i * dSae + j]; if (v > 0) out.push(v); }
    });
  });

  const tensors = await trainer.exportTensors();
  const wDec = tensors.W_dec;
  const decoderInInput = !!wDec && wDec.shape.length === 2 && wDec.shape[0] === dSae;
  const d = decoderInInput ? wDec.shape[1] : 0;
  const withLogits = !!opts.logits && decoderInInput && d === ds.dIn;
  const name = (id: number) => ws.vocab?.pieces[id] ?? ws.tokenizer?.tok.display[id] ?? `[${id}]`;
  const docs = documentsOf(ws, ds.rows);
  const dataset = ws.dataset?.name ?? ds.name;

  const features: NeuronpediaFeature[] = [];
  for (const [li, j] of latents.entries()) {
    const dir = decoderInInput ? wDec.data.slice(j * d, (j + 1) * d) : null;
    const freq = dashboardHistogram(fired[li]);
    const logit = logitFields(withLogits && dir ? await opts.logits!(dir) : null, name);
    const max = overview.maxActivation[j];
    features.push({
      feature_index: j,
      activations: contexts[li].map((c) => ({
        bin_min: -1,
        bin_max: round(max, 5),
        bin_contains: -1,
        tokens: c.tokens,
        values: c.values.map((v) => round(v, 4)),
        qualifying_token_index: c.centre,
      })),
      frac_nonzero: overview.density[j],
      freq_hist_data_bar_heights: freq.bar_heights,
      freq_hist_data_bar_values: freq.bar_values,
      ...logit,
      n_prompts_total: docs.count,
      n_tokens_in_prompt: docs.longest,
      dataset,
      ...(dir ? neuronAlignment(dir) : { neuron_alignment_indices: [], neuron_alignment_values: [], neuron_alignment_l1: [] }),
    });
  }

  const source = exportSource(ws, trainer.cfg);
  if (!source) return { features };
  const layer = /^blocks\.(\d+)\./.exec(source.hookName);
  return { model_id: source.modelName.replace(/\.bin$/i, ''), ...(layer ? { layer: Number(layer[1]) } : {}), features };
}
