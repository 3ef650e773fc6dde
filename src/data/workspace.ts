// What the user has loaded: one activation dataset and its companion files (tokens, vocab, label
// files), matched by row count. Shared by the worker and the CLI. A file that fails to parse or to
// match leaves everything already loaded untouched.
import type { GuidanceTarget, LabelSource, SaeConfig } from '../engine/config';
import { MULTI_LAYER } from '../engine/config';
import type { ResolvedGuidance } from '../engine/trainer';
import { parseLabels, checkLabelCount } from '../io/labels';
import { parseNpy } from '../io/npy';
import { parseTokens, parseVocab } from '../io/vocab';
import { datasetFromArray, selectLayers, type Dataset } from './dataset';
import { labelsFromTokenRule } from './tokenRules';

export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

export type LoadedKind = 'activations' | 'tokens' | 'vocab' | 'labels';

export class Workspace {
  dataset: Dataset | null = null;
  tokens: { name: string; ids: Int32Array } | null = null;
  vocab: { name: string; pieces: string[] } | null = null;
  readonly labelSets = new Map<string, Float32Array>();

  /** Replace the activations; companions whose row count no longer matches are dropped. */
  setDataset(ds: Dataset): void {
    this.dataset = ds;
    if (this.tokens && this.tokens.ids.length !== ds.rows) this.tokens = null;
    for (const [name, values] of this.labelSets) if (values.length !== ds.rows) this.labelSets.delete(name);
  }

  /**
   * Load a file, recognised by its content: an .npy of floats with 2 or 3 dimensions is
   * activations, a 1-D integer .npy is token ids, a 1-D float/bool .npy, .csv or .jsonl is labels,
   * a .json is a vocab.
   */
  load(buffer: ArrayBuffer, name: string): LoadedKind {
    const lower = name.toLowerCase();
    if (lower.endsWith('.json')) {
      this.vocab = { name, pieces: parseVocab(buffer, name) };
      return 'vocab';
    }
    if (lower.endsWith('.csv') || lower.endsWith('.jsonl')) return this.loadLabels(buffer, name);
    if (lower.endsWith('.npy')) {
      const arr = parseNpy(buffer, name); // throws a specific NpyError for broken files
      const meaningful = arr.shape.filter((s) => s > 1).length;
      const isInt = arr.dtype === 'int32' || arr.dtype === 'int64';
      if (arr.shape.length >= 2 && meaningful >= 2 && !isInt) {
        this.setDataset(datasetFromArray(arr, name));
        return 'activations';
      }
      if (isInt && meaningful <= 1) {
        const ids = parseTokens(buffer, name);
        this.requireRows(ids.length, name, 'token ids');
        this.tokens = { name, ids };
        return 'tokens';
      }
      if (meaningful <= 1) return this.loadLabels(buffer, name);
      throw new WorkspaceError(`${name} holds ${arr.dtype} values of shape [${arr.shape.join(', ')}]; activations must be float [N, d] or [L, N, d], tokens int [N], labels one value per row.`);
    }
    throw new WorkspaceError(`${name}: unknown file type; drop activations (.npy), tokens (.npy of ints), a vocab (.json) or labels (.csv, .jsonl, .npy).`);
  }

  private loadLabels(buffer: ArrayBuffer, name: string): LoadedKind {
    const { values } = parseLabels(buffer, name);
    if (!this.dataset) throw new WorkspaceError(`load the activations before the labels file ${name} (labels are matched to activation rows).`);
    checkLabelCount(values, this.dataset.rows, name);
    this.labelSets.set(name, values);
    return 'labels';
  }

  private requireRows(count: number, name: string, what: string): void {
    if (!this.dataset) throw new WorkspaceError(`load the activations before ${name} (${what} are matched to activation rows).`);
    if (count !== this.dataset.rows) {
      throw new WorkspaceError(`${name} has ${count.toLocaleString('en-US')} ${what} but the activations have ${this.dataset.rows.toLocaleString('en-US')} rows; they must have one per activation row.`);
    }
  }

  /** Labels for every dataset row from a label source. */
  labelsFor(source: LabelSource): Float32Array {
    if (!this.dataset) throw new WorkspaceError('no activations are loaded.');
    if (source.kind === 'file') {
      const values = this.labelSets.get(source.name);
      if (!values) {
        const known = [...this.labelSets.keys()];
        throw new WorkspaceError(`no labels file "${source.name}" is loaded${known.length ? ` (loaded: ${known.join(', ')})` : ''}; drop it with the activations.`);
      }
      return values;
    }
    if (!this.tokens || !this.vocab) {
      throw new WorkspaceError('a token rule needs the token ids (.npy of ints, one per row) and the vocab (.json) of these activations; drop both.');
    }
    return labelsFromTokenRule(this.tokens.ids, this.vocab.pieces, source);
  }

  resolveGuidance(targets: GuidanceTarget[]): ResolvedGuidance[] {
    return targets.map((target) => ({ target, labels: this.labelsFor(target.labels) }));
  }

  /** Positive count and a few example pieces (for the UI's preview of a label source). */
  previewLabels(source: LabelSource): { rows: number; positives: number; examples: string[] } {
    const labels = this.labelsFor(source);
    let positives = 0;
    const examples = new Set<string>();
    labels.forEach((v, r) => {
      if (v <= 0.5) return;
      positives += 1;
      if (examples.size < 6 && this.tokens && this.vocab) examples.add(this.vocab.pieces[this.tokens.ids[r]]);
    });
    return { rows: labels.length, positives, examples: [...examples] };
  }

  /** The dataset a config trains on: its layers selected from a multi-layer file. */
  datasetFor(cfg: SaeConfig): Dataset {
    const ds = this.dataset;
    if (!ds) throw new WorkspaceError('no data is loaded; load the sample or drop an .npy file first.');
    if (ds.nLayers === 1) return ds;
    return MULTI_LAYER.includes(cfg.architecture) ? selectLayers(ds, cfg.layer_start, cfg.layer_end) : selectLayers(ds, cfg.layer, cfg.layer);
  }
}
