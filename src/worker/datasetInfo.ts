// What the page is told about the loaded data: its shape, split, statistics and companions.
import { COMMON_DEFAULTS } from '../engine/config';
import type { DatasetInfo } from '../data/types';
import { isStreamed, type Workspace } from '../data/workspace';

export function describe(ws: Workspace): DatasetInfo | null {
  const ds = ws.dataset;
  const facts = ws.facts;
  if (!ds || !facts) return null;
  const valRows = Math.max(ds.rows >= 2 ? 1 : 0, Math.round(ds.rows * COMMON_DEFAULTS.val_fraction)); // the default split
  return {
    name: ds.name,
    rows: ds.rows,
    dIn: ds.dIn,
    nLayers: ds.nLayers,
    tokens: ws.tokens ? { name: ws.tokens.name, count: ws.tokens.ids.length } : undefined,
    vocab: ws.vocab ? { name: ws.vocab.name, count: ws.vocab.pieces.length } : undefined,
    labels: [...ws.labelSets].map(([name, v]) => ({ name, count: v.length, positiveFraction: v.reduce((a, y) => a + (y > 0.5 ? 1 : 0), 0) / Math.max(1, v.length) })),
    dtype: ds.dtype,
    trainRows: ds.rows - valRows,
    valRows,
    stats: facts.stats,
    format: facts.format,
    bytes: facts.bytes,
    streamed: isStreamed(ds),
    memoryBudgetBytes: ws.memoryBudgetBytes,
    docIds: ws.docIds ? { name: ws.docIds.name, count: ws.docIds.ids.length, documents: ws.docIds.documents } : undefined,
    positions: ws.positions ? { name: ws.positions.name, count: ws.positions.ids.length } : undefined,
    synthetic: ds.groundTruth !== undefined,
    description: ds.description,
  };
}

