// Loading the activations' companions (token ids, doc ids, positions, vocab, labels).
// Each companion has one value per activation row; when rows with NaN/Inf were left out of the
// activation file (RowFilter), companions of the file's full length are filtered to the kept rows.
import { decodeFloat32, decodeInt32, readArrayBytes, type ArrayLayout } from '../io/arrayFile';
import { checkLabelCount, parseLabels } from '../io/labels';
import { parseVocab } from '../io/vocab';
import { readRangeOf } from './source';
import type { ArrayChoice, FileResult, SourceFile } from './types';
import { WorkspaceError, count, pickRows, shapeText, type WorkspaceState } from './workspaceState';

/** The integer values of an array of a file (token ids, document ids, positions). */
export async function integerValues(file: SourceFile, layout: ArrayLayout, what?: string): Promise<Int32Array> {
  return decodeInt32(await readArrayBytes(layout, readRangeOf(file.blob)), layout.dtype, file.name, what);
}

/** Token ids / document ids / positions / labels from an array of a file. */
export async function loadCompanionArray(ws: WorkspaceState, file: SourceFile, layout: ArrayLayout, role: ArrayChoice['role'], choices: ArrayChoice[], decoded?: Int32Array): Promise<FileResult> {
  const label = choices.length > 1 ? `${file.name}:${layout.name}` : file.name;
  if (role === 'labels') {
    const values = decodeFloat32(await readArrayBytes(layout, readRangeOf(file.blob)), layout.dtype);
    return addLabels(ws, label, values);
  }
  const idsName = role === 'tokens' ? 'token ids' : role === 'doc_ids' ? 'document ids' : 'positions';
  let ids = decoded ?? await integerValues(file, layout, idsName);
  // [L, N] per-layer copies of the same ids (or [1, N], [N, 1]) → [N].
  if (layout.shape.length === 2 && layout.shape[0] > 1 && layout.shape[1] > 1) {
    const [L, N] = layout.shape;
    for (let l = 1; l < L; l++) for (let n = 0; n < N; n++) {
      if (ids[l * N + n] !== ids[n]) throw new WorkspaceError(`${label} has shape ${shapeText(layout.shape)} with different values per row; ${role === 'tokens' ? 'token ids' : role} must be one per activation row ([N], or [L, N] with equal rows).`);
    }
    ids = ids.slice(0, N);
  }
  const what = role === 'tokens' ? 'token ids' : role === 'doc_ids' ? 'document ids' : 'positions';
  ids = fitRows(ws, ids, label, what);
  const bad = ids.findIndex((v) => v < 0);
  if (bad >= 0) throw new WorkspaceError(`${label} holds ${what.replace(/s$/, '')} ${ids[bad]} at index ${bad}; ${what} must be ≥ 0. Drop padding rows from both this file and the activations.`);
  if (role === 'tokens') {
    const tooBig = ws.vocab ? ids.findIndex((id) => id >= ws.vocab!.pieces.length) : -1;
    if (tooBig >= 0) throw new WorkspaceError(`${label} holds token id ${ids[tooBig]} (row ${tooBig}) but the vocab ${ws.vocab!.name} has ${count(ws.vocab!.pieces.length)} pieces; load the tokens and vocab of the same model.`);
    ws.tokens = { name: label, ids };
    ws.annotateOutliers();
    return { name: file.name, kind: 'tokens', message: `loaded token ids ${label}: ${count(ids.length)} ids` };
  }
  if (role === 'doc_ids') {
    const documents = new Set(ids).size;
    ws.docIds = { name: label, ids, documents };
    ws.annotateOutliers();
    return { name: file.name, kind: 'doc_ids', message: `loaded document ids ${label}: ${count(documents)} documents` };
  }
  ws.positions = { name: label, ids };
  ws.annotateOutliers();
  return { name: file.name, kind: 'positions', message: `loaded positions ${label}: ${count(ids.length)} rows` };
}

export async function loadVocab(ws: WorkspaceState, file: SourceFile): Promise<FileResult> {
  const pieces = parseVocab(await file.blob.arrayBuffer(), file.name);
  if (ws.tokens) {
    const tooBig = ws.tokens.ids.findIndex((id) => id >= pieces.length);
    if (tooBig >= 0) {
      throw new WorkspaceError(`${file.name} has ${count(pieces.length)} pieces but ${ws.tokens.name} holds token id ${ws.tokens.ids[tooBig]} (row ${tooBig}); load the vocab of the model that produced these tokens.`);
    }
  }
  ws.vocab = { name: file.name, pieces };
  ws.annotateOutliers();
  return { name: file.name, kind: 'vocab', message: `loaded vocab ${file.name}: ${count(pieces.length)} pieces` };
}

export async function loadLabelFile(ws: WorkspaceState, file: SourceFile): Promise<FileResult> {
  const { values } = parseLabels(await file.blob.arrayBuffer(), file.name);
  return addLabels(ws, file.name, values);
}

function addLabels(ws: WorkspaceState, name: string, labels: Float32Array): FileResult {
  if (!ws.dataset) throw new WorkspaceError(`load the activations before the labels file ${name} (labels are matched to activation rows).`);
  const f = ws.rowFilter;
  const values = f && labels.length === f.fileRows && labels.length !== ws.dataset.rows ? pickRows(labels, f.kept) : labels;
  checkLabelCount(values, ws.dataset.rows, name);
  ws.labelSets.set(name, values);
  const positive = values.reduce((a, y) => a + (y > 0.5 ? 1 : 0), 0);
  return { name, kind: 'labels', message: `loaded labels ${name}: ${count(values.length)} rows, ${((100 * positive) / values.length).toFixed(1)}% positive` };
}

/**
 * Values with one entry per dataset row: as they are, or, when rows with NaN/Inf were left out of
 * the activation file, the kept rows of values as long as the file.
 */
function fitRows(ws: WorkspaceState, values: Int32Array, name: string, what: string): Int32Array {
  if (!ws.dataset) throw new WorkspaceError(`load the activations before ${name} (${what} are matched to activation rows).`);
  const n = values.length;
  if (n === ws.dataset.rows) return values;
  const f = ws.rowFilter;
  if (f && n === f.fileRows) return pickRows(values, f.kept);
  const left = f ? ` (${count(f.fileRows)} in ${f.file}, ${count(f.fileRows - f.kept.length)} with NaN/Inf left out)` : '';
  throw new WorkspaceError(`${name} has ${count(n)} ${what} but the activations have ${count(ws.dataset.rows)} rows${left}; they must have one per activation row (same order).`);
}
