// The per-row labels of guidance targets (labels file or token rule) and their preview.
// A token rule needs the token ids and the vocab of the activations (src/data/tokenRules.ts); a
// labels file was matched to the activation rows as it was loaded (src/data/companionFiles.ts).
import type { GuidanceTarget, LabelSource } from '../engine/config';
import type { ResolvedGuidance } from '../engine/trainer';
import { labelsFromTokenRule } from './tokenRules';
import { WorkspaceError, type WorkspaceState } from './workspaceState';

type LabelData = Pick<WorkspaceState, 'dataset' | 'labelSets' | 'tokens' | 'vocab'>;

/** Labels for every dataset row from a label source. */
export function labelsFor(ws: LabelData, source: LabelSource): Float32Array {
  if (!ws.dataset) throw new WorkspaceError('no activations are loaded.');
  if (source.kind === 'file') {
    const values = ws.labelSets.get(source.name);
    if (!values) {
      const known = [...ws.labelSets.keys()];
      throw new WorkspaceError(`no labels file "${source.name}" is loaded${known.length ? ` (loaded: ${known.join(', ')})` : ''}; drop it with the activations.`);
    }
    return values;
  }
  if (!ws.tokens || !ws.vocab) {
    throw new WorkspaceError('a token rule needs the token ids (.npy of ints, one per row) and the vocab (.json) of these activations; drop both.');
  }
  return labelsFromTokenRule(ws.tokens.ids, ws.vocab.pieces, source);
}

export function resolveGuidance(ws: LabelData, targets: GuidanceTarget[]): ResolvedGuidance[] {
  return targets.map((target) => ({ target, labels: labelsFor(ws, target.labels) }));
}

/** Positive count and a few example pieces (for the UI's preview of a label source). */
export function previewLabels(ws: LabelData, source: LabelSource): { rows: number; positives: number; examples: string[] } {
  const labels = labelsFor(ws, source);
  let positives = 0;
  const examples = new Set<string>();
  labels.forEach((v, r) => {
    if (v <= 0.5) return;
    positives += 1;
    if (examples.size < 6 && ws.tokens && ws.vocab) examples.add(ws.vocab.pieces[ws.tokens.ids[r]]);
  });
  return { rows: labels.length, positives, examples: [...examples] };
}
