// The Workspace, what the user has loaded, and the loading of dropped files into it.
// One activation dataset (in memory, or streamed from its file when it is larger than the memory
// budget), its companion files (tokens, vocab, labels, document ids, positions) matched by row
// count, and an imported SAE. Files are recognised by content, whatever order they are dropped in.
// Shared by the worker and the CLI. A file that fails to parse or to match changes nothing: the
// error names the file, the problem and the fix. The work is split by concern: recognising files
// (src/data/fileRoles.ts), the activations (src/data/activationFile.ts), their companions
// (src/data/companionFiles.ts), an SAELens directory (src/data/saeFiles.ts), a language model
// (src/data/languageModelFiles.ts) and guidance labels (src/data/guidanceLabels.ts), all on the
// state described in src/data/workspaceState.ts.
import type { GuidanceTarget, LabelSource, SaeConfig } from '../engine/config';
import { MULTI_LAYER } from '../engine/config';
import type { ResolvedGuidance } from '../engine/trainer';
import type { TransformerModel } from '../engine/lm/transformer';
import { ArrayFileError } from '../io/arrayFile';
import type { TextTokenizer } from '../io/tokenizer';
import type { ModelCheckpoint } from '../io/transformerWeights';
import type { ImportedSae } from './saeImport';
import type { FileResult, LoadedKind, SourceFile } from './types';
import { loadActivations } from './activationFile';
import { selectLayers, type Dataset } from './dataset';
import { expandZips, nameZipErrors, recogniseFiles, type HintedSourceFile } from './fileRoles';
import * as guidanceLabels from './guidanceLabels';
import { loadLanguageModelFiles, tokenizeTexts } from './languageModelFiles';
import { importSaeFiles } from './saeFiles';
import type { TokenizedCorpus } from './textCorpus';
import {
  DEFAULT_MEMORY_BUDGET, NonFiniteRowsError, WorkspaceError, errorResult, factsOf, isStreamed, pickRows,
  type AnyDataset, type DatasetFacts, type LoadOptions, type RowFilter, type WorkspaceState,
} from './workspaceState';

// The names this module has always exported, wherever they live now.
export { DEFAULT_MEMORY_BUDGET, NonFiniteRowsError, WorkspaceError, factsOf, isStreamed } from './workspaceState';
export type { AnyDataset, DatasetFacts, LoadOptions, RowFilter, StreamedDataset } from './workspaceState';
export type { HintedSourceFile, RoleHint } from './fileRoles';

export class Workspace implements WorkspaceState {
  dataset: AnyDataset | null = null;
  facts: DatasetFacts | null = null;
  tokens: { name: string; ids: Int32Array } | null = null;
  vocab: { name: string; pieces: string[] } | null = null;
  docIds: { name: string; ids: Int32Array; documents: number } | null = null;
  positions: { name: string; ids: Int32Array } | null = null;
  readonly labelSets = new Map<string, Float32Array>();
  imported: ImportedSae | null = null;
  memoryBudgetBytes = DEFAULT_MEMORY_BUDGET;
  /** A language model (llama2.c or a Hugging Face folder); its tfjs weights are made on first use (src/data/languageModel.ts). */
  lm: { name: string; checkpoint: ModelCheckpoint; model?: TransformerModel; /** The model's writing weights are centred (TransformerLens center_writing_weights). */ centred?: boolean } | null = null;
  tokenizer: { name: string; tok: TextTokenizer } | null = null;
  /** Dropped text files, tokenised once a model and tokenizer are loaded. */
  readonly texts = new Map<string, { text: string; corpus?: TokenizedCorpus }>();
  /** The text the loaded activations were extracted from (null for activation files). */
  datasetText: string | null = null;
  /** Set when rows with NaN/Inf were left out of the activation file (null: the dataset is every row). */
  rowFilter: RowFilter | null = null;

  /**
   * Replace the activations; companions whose row count no longer matches are dropped (with a row
   * filter, companions of the file's full length are filtered to the kept rows).
   */
  setDataset(ds: AnyDataset, facts?: DatasetFacts, rowFilter: RowFilter | null = null): void {
    this.dataset = ds;
    this.datasetText = null;
    this.rowFilter = rowFilter;
    this.facts = facts ?? (isStreamed(ds) ? null : factsOf(ds));
    const fit = <T extends Int32Array | Float32Array>(values: T): T | null => (values.length === ds.rows ? values : rowFilter && values.length === rowFilter.fileRows ? pickRows(values, rowFilter.kept) : null);
    if (this.tokens) { const ids = fit(this.tokens.ids); this.tokens = ids ? { ...this.tokens, ids } : null; }
    if (this.docIds) { const ids = fit(this.docIds.ids); this.docIds = ids ? { ...this.docIds, ids, documents: new Set(ids).size } : null; }
    if (this.positions) { const ids = fit(this.positions.ids); this.positions = ids ? { ...this.positions, ids } : null; }
    for (const [name, values] of this.labelSets) {
      const kept = fit(values);
      if (kept) this.labelSets.set(name, kept);
      else this.labelSets.delete(name);
    }
    this.annotateOutliers();
  }

  /**
   * Load dropped files, recognised by content: activations (.npy, .npz, .safetensors, raw), token
   * ids / document ids / positions (integer arrays), labels (.csv, .jsonl, 1-D float .npy), a vocab
   * (.json), a run config (run_config.json), a SAELens directory (cfg.json + sae_weights.safetensors
   * [+ sparsity.safetensors], or its zip). Activations are applied first, so companions in the same
   * drop match the new rows. Each file's outcome is in the results; failures change nothing.
   */
  async loadFiles(input: HintedSourceFile[], opts: LoadOptions = {}): Promise<{ results: FileResult[]; sae?: ImportedSae }> {
    if (opts.memoryBudgetBytes) this.memoryBudgetBytes = opts.memoryBudgetBytes;
    const results: FileResult[] = [];
    // Files taken out of a zip: the zip's name goes in front of their messages.
    const origins = new Map<SourceFile, string>();
    const files = await expandZips(input, results, origins);
    const { candidates, companions, runConfigs, sae, lmFiles } = await recogniseFiles(this, files, results);

    if (candidates.length > 1) {
      for (const c of candidates.slice(1)) results.push({ name: c.file.name, kind: 'error', message: `${c.file.name} also holds activations; load one activation file at a time (${candidates[0].file.name} is being loaded).` });
    }
    if (candidates.length) {
      const c = candidates[0];
      try {
        results.push(await loadActivations(this, c, opts));
      } catch (e) {
        const retry = e instanceof NonFiniteRowsError ? { nonFinite: { rows: e.rows, options: { ...c.file.options, excludeNonFinite: true } } } : {};
        results.push({ ...errorResult(c.file.name, e), choices: c.choices.length > 1 ? c.choices : undefined, chosen: c.layout.name, ...retry });
      }
    }
    // Companions after the activations (they are matched to its rows); token ids before anything
    // that reports tokens.
    // Integer arrays (token ids first) before the vocab, so the vocab is checked against the ids.
    const order = (c: { name: string }) => (c.name.toLowerCase().endsWith('.json') ? 1 : 0);
    companions.sort((a, b) => order(a) - order(b));
    for (const c of companions) {
      try {
        results.push(await c.load());
      } catch (e) {
        results.push(errorResult(c.name, e));
      }
    }
    results.push(...runConfigs);
    const imported = await importSaeFiles(this, sae, origins, results);
    results.push(...(await loadLanguageModelFiles(this, lmFiles, opts.onProgress)));
    // An imported SAE's context_size may cut the texts' documents shorter (or no longer).
    if (imported) tokenizeTexts(this, false);
    nameZipErrors(results, origins);
    return { results, sae: imported };
  }

  /** Outlier examples with their token and position, and how many sit at a document's start. */
  annotateOutliers(): void {
    const facts = this.facts;
    if (!facts) return;
    const o = facts.stats.outliers;
    for (const ex of o.examples) {
      ex.token = this.tokens && this.vocab ? this.vocab.pieces[this.tokens.ids[ex.row]] : undefined;
      ex.position = this.positions ? this.positions.ids[ex.row] : undefined;
    }
    const first = this.firstPositionRows();
    if (first) {
      let n = 0;
      for (const r of facts.outlierRows) if (first(r)) n++;
      o.atFirstPosition = n;
    } else delete o.atFirstPosition;
  }

  /** Whether a row is the first of its document (from positions, else from document ids). */
  private firstPositionRows(): ((row: number) => boolean) | null {
    if (this.positions) {
      // BOS-dropped data starts documents at position 1.
      let min = Infinity;
      for (const p of this.positions.ids) if (p < min) min = p;
      const ids = this.positions.ids;
      return (r) => ids[r] === min;
    }
    if (this.docIds) {
      const ids = this.docIds.ids;
      return (r) => r === 0 || ids[r] !== ids[r - 1];
    }
    return null;
  }

  /** Labels for every dataset row from a label source. */
  labelsFor(source: LabelSource): Float32Array {
    return guidanceLabels.labelsFor(this, source);
  }

  resolveGuidance(targets: GuidanceTarget[]): ResolvedGuidance[] {
    return guidanceLabels.resolveGuidance(this, targets);
  }

  /** Positive count and a few example pieces (for the UI's preview of a label source). */
  previewLabels(source: LabelSource): { rows: number; positives: number; examples: string[] } {
    return guidanceLabels.previewLabels(this, source);
  }

  /** The layers a config trains on: one layer of a multi-layer file, or a range for multi-layer variants. */
  static layersFor(cfg: SaeConfig, nLayers: number): [number, number] {
    if (nLayers === 1) return [0, 0];
    return MULTI_LAYER.includes(cfg.architecture) ? [cfg.layer_start, cfg.layer_end] : [cfg.layer, cfg.layer];
  }

  /** The in-memory dataset a config trains on: its layers selected from a multi-layer file. */
  datasetFor(cfg: SaeConfig): Dataset {
    const ds = this.dataset;
    if (!ds) throw new WorkspaceError('no data is loaded; load the sample or drop an activation file first.');
    if (isStreamed(ds)) throw new WorkspaceError(`${ds.name} is streamed from its file; use trainingDataFor.`);
    if (ds.nLayers === 1) return ds;
    const [first, last] = Workspace.layersFor(cfg, ds.nLayers);
    return selectLayers(ds, first, last);
  }
}

export { ArrayFileError };
export type { LoadedKind };
