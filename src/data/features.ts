// The feature browser's data: every latent's density, max / mean activation and top-activating
// rows over the loaded activations, and for one latent its contexts (token windows with the
// latent's activation on every token), its activation histogram, decoder neighbours and, with a
// language model, the tokens its decoder direction promotes. Shared by the worker and the CLI.
import { FeatureCollector, contextRows, decoderNeighbours, type FeatureSummary } from '../engine/featureStats';
import { histogram } from '../engine/analysis';
import { DENSE_FRACTION } from '../engine/metrics';
import type { Trainer } from '../engine/trainer';
import { Workspace, WorkspaceError, isStreamed } from './workspace';
import type { Dataset } from './dataset';

/** Rows encoded per batch while summarising. */
const CHUNK_ROWS = 2048;

export interface FeatureOverview extends FeatureSummary {
  /** log10 density histogram of all latents (dead ones counted apart). */
  densityHistogram: { edges: number[]; counts: number[] };
  dead: number;
  /** Latents firing on more than 10% of rows. */
  dense: number;
}

export function inMemory(ws: Workspace, trainer: Trainer): Dataset {
  const ds = ws.dataset;
  if (!ds) throw new WorkspaceError('no activations are loaded.');
  if (isStreamed(ds)) throw new WorkspaceError(`${ds.name} is streamed from its file; the feature browser needs the activations in memory (raise the memory budget).`);
  return ws.datasetFor(trainer.cfg);
}

/** The latents f [n, d_sae] of every row, block by block (`start` = the block's first row). */
export async function forEachLatentBlock(ds: Dataset, trainer: Trainer, use: (f: Float32Array, n: number, start: number) => void): Promise<void> {
  const width = ds.dIn * ds.nLayers;
  for (let start = 0; start < ds.rows; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, ds.rows - start);
    use(await trainer.latentsOfRows(ds.data.subarray(start * width, (start + n) * width), n), n, start);
  }
}

/** One pass over every row of the loaded (in-memory) activations. */
export async function featureOverview(ws: Workspace, trainer: Trainer, opts: { k?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FeatureOverview> {
  const ds = inMemory(ws, trainer);
  const collector = new FeatureCollector(trainer.cfg.d_sae, opts.k ?? 20);
  await forEachLatentBlock(ds, trainer, (f, n, start) => {
    collector.add(f, n);
    opts.onProgress?.(start + n, ds.rows);
  });
  const summary = collector.finish();
  const alive = Array.from(summary.density).filter((v) => v > 0).map((v) => Math.log10(v));
  return {
    ...summary,
    densityHistogram: histogram(alive, 40),
    dead: summary.density.filter((v) => v === 0).length,
    dense: summary.density.filter((v) => v > DENSE_FRACTION).length,
  };
}

export interface LatentContext {
  /** Dataset rows of the window, the centre (top-activating) one at `centre`. */
  rows: number[];
  centre: number;
  tokens: string[];
  /** The latent's activation on each row of the window. */
  values: number[];
}

export interface LatentDetail {
  latent: number;
  contexts: LatentContext[];
  /** Activations of the latent where it fired, over all rows. */
  histogram: { edges: number[]; counts: number[] };
  neighbours: { latent: number; cosine: number }[];
  /** Tokens the decoder direction promotes / suppresses most through the unembedding. */
  promoted?: { token: string; logit: number }[];
  suppressed?: { token: string; logit: number }[];
}

/**
 * Token windows around the top rows of each latent, with that latent's activation on every row of
 * its windows: the rows of all windows are encoded once.
 */
export async function contextsOf(ws: Workspace, trainer: Trainer, ds: Dataset, overview: FeatureSummary, latents: readonly number[], opts: { before?: number; after?: number }): Promise<LatentContext[][]> {
  const dSae = trainer.cfg.d_sae;
  const width = ds.dIn * ds.nLayers;
  const piece = (row: number) => {
    const id = ws.tokens?.ids[row];
    if (id === undefined) return `#${row}`;
    return ws.vocab?.pieces[id] ?? `[${id}]`;
  };
  const windows = latents.map((j) => overview.top[j].map((t) => contextRows(t.row, ds.rows, { before: opts.before, after: opts.after, docIds: ws.docIds?.ids, positions: ws.positions?.ids })));
  const wanted = [...new Set(windows.flat().flatMap((w) => w.rows))].sort((a, b) => a - b);
  const index = new Map(wanted.map((r, i) => [r, i]));
  const f = new Float32Array(wanted.length * dSae);
  for (let start = 0; start < wanted.length; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, wanted.length - start);
    const raw = new Float32Array(n * width);
    for (let i = 0; i < n; i++) raw.set(ds.data.subarray(wanted[start + i] * width, (wanted[start + i] + 1) * width), i * width);
    f.set(await trainer.latentsOfRows(raw, n), start * dSae);
  }
  return latents.map((j, li) => windows[li].map((w) => ({ ...w, tokens: w.rows.map(piece), values: w.rows.map((r) => f[index.get(r)! * dSae + j]) })));
}

export interface ContextsExport {
  rows: number;
  d_sae: number;
  /** Per latent (by index): its statistics and top contexts. */
  latents: { latent: number; density: number; max_activation: number; mean_activation: number; contexts: { tokens: string[]; values: number[]; rows: number[]; max_index: number }[] }[];
}

/** Every latent's top contexts as JSON-ready data (the browser's "Download contexts JSON"). */
export async function exportContexts(ws: Workspace, trainer: Trainer, overview: FeatureSummary, opts: { before?: number; after?: number } = {}): Promise<ContextsExport> {
  const ds = inMemory(ws, trainer);
  const latents = Array.from({ length: trainer.cfg.d_sae }, (_, j) => j);
  const all = await contextsOf(ws, trainer, ds, overview, latents, opts);
  return {
    rows: overview.rows,
    d_sae: trainer.cfg.d_sae,
    latents: latents.map((j) => ({
      latent: j,
      density: overview.density[j],
      max_activation: overview.maxActivation[j],
      mean_activation: overview.meanActivation[j],
      contexts: all[j].map((c) => ({ tokens: c.tokens, values: c.values, rows: c.rows, max_index: c.centre })),
    })),
  };
}

/** The top contexts of some latents (auto-interpretation), by latent; the windows' rows are encoded once. */
export async function latentContexts(ws: Workspace, trainer: Trainer, overview: FeatureSummary, latents: readonly number[], opts: { before?: number; after?: number } = {}): Promise<Record<number, LatentContext[]>> {
  const ds = inMemory(ws, trainer);
  const dSae = trainer.cfg.d_sae;
  const bad = latents.find((j) => !Number.isInteger(j) || j < 0 || j >= dSae);
  if (bad !== undefined) throw new WorkspaceError(`latent ${bad} does not exist (d_sae ${dSae}).`);
  const unique = [...new Set(latents)];
  const all = await contextsOf(ws, trainer, ds, overview, unique, opts);
  return Object.fromEntries(unique.map((j, i) => [j, all[i]]));
}

/** Everything the browser shows for one latent. `logits` maps a decoder direction to vocab logits (logit lens). */
export async function latentDetail(ws: Workspace, trainer: Trainer, overview: FeatureSummary, latent: number, opts: { before?: number; after?: number; logits?: (direction: Float32Array) => Promise<Float32Array> } = {}): Promise<LatentDetail> {
  const ds = inMemory(ws, trainer);
  const dSae = trainer.cfg.d_sae;
  if (!Number.isInteger(latent) || latent < 0 || latent >= dSae) throw new WorkspaceError(`latent ${latent} does not exist (d_sae ${dSae}).`);
  const [contexts] = await contextsOf(ws, trainer, ds, overview, [latent], opts);
  // The histogram needs the latent on every row: one more pass, keeping one column.
  const fired: number[] = [];
  await forEachLatentBlock(ds, trainer, (f, n) => {
    for (let i = 0; i < n; i++) { const v = f[i * dSae + latent]; if (v > 0) fired.push(v); }
  });
  const tensors = await trainer.exportTensors();
  const wDec = tensors.W_dec;
  const decoderInInput = wDec && wDec.shape.length === 2 && wDec.shape[0] === dSae;
  const d = decoderInInput ? wDec.shape[1] : 0;
  const detail: LatentDetail = {
    latent,
    contexts,
    histogram: histogram(fired, 40),
    neighbours: decoderInInput ? decoderNeighbours(wDec.data, dSae, d, latent, 10) : [],
  };
  if (opts.logits && decoderInInput && d === ds.dIn) {
    const logits = await opts.logits(wDec.data.slice(latent * d, (latent + 1) * d));
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    const name = (id: number) => ws.vocab?.pieces[id] ?? ws.tokenizer?.tok.display[id] ?? `[${id}]`;
    detail.promoted = order.slice(0, 10).map((id) => ({ token: name(id), logit: logits[id] }));
    detail.suppressed = order.slice(-10).reverse().map((id) => ({ token: name(id), logit: logits[id] }));
  }
  return detail;
}
