// Guidance targets as the Model form edits them: the drafts, their labels in the config's terms, their problems.
// The store keeps the drafts and their label previews (src/store/state.ts) and adds, edits and
// removes them (src/store/store.ts); configFromForm (src/store/modelForm.ts) sends them as `guidance`.
import type { GuidanceTarget, LabelSource } from '../engine/config';
import type { DatasetInfo } from '../data/types';

/** A guidance target as edited in the form; `toTarget` turns it into the config's shape. */
export interface GuidanceDraft {
  id: string;
  latent: number;
  method: 'mse' | 'contrastive';
  beta: number;
  margin: number;
  source: 'file' | 'piece' | 'regex';
  file: string;
  piece: string;
  pattern: string;
}

export interface LabelsPreview {
  pending: boolean;
  text?: string;
  error?: string;
}

export function labelSource(d: GuidanceDraft): LabelSource {
  switch (d.source) {
    case 'file': return { kind: 'file', name: d.file };
    case 'piece': return { kind: 'piece', piece: d.piece };
    case 'regex': return { kind: 'regex', pattern: d.pattern };
  }
}

export function toTarget(d: GuidanceDraft): GuidanceTarget {
  return { id: d.id, latent: d.latent, method: d.method, beta: d.beta, margin: d.margin, labels: labelSource(d) };
}

/** Why a target cannot be used with the loaded data, or null when it can. */
export function guidanceProblem(d: GuidanceDraft, dataset: DatasetInfo | null, dSae: number): string | null {
  if (!Number.isInteger(d.latent) || d.latent < 0 || d.latent >= dSae) return `latent must be an integer in 0 … ${dSae - 1}`;
  if (d.source === 'file') {
    if (!d.file) return 'choose a labels file (drop a .csv, .jsonl or 1-D .npy of labels first)';
    if (!dataset?.labels.some((l) => l.name === d.file)) return `labels file ${d.file} is not loaded`;
    return null;
  }
  if (!dataset?.tokens || !dataset.vocab) return 'token rules need the token ids (.npy of ints) and the vocab (.json)';
  if (d.source === 'piece' && !d.piece) return 'type the token piece';
  if (d.source === 'regex') {
    if (!d.pattern) return 'type a regular expression';
    try { new RegExp(d.pattern); } catch (e) { return `bad regular expression: ${e instanceof Error ? e.message : String(e)}`; }
  }
  return null;
}
