// Every entry of the bad-file corpus (fixtures/bad/, scripts/make-bad-corpus.ts) dropped into a
// workspace that already holds good files (the entry's `before`: activations, and tokens, an SAE or a
// language model where the entry is about them): the file gets its specific message (or the raw-shape
// question), and everything loaded before is the same afterwards. Activation files with NaN/Inf rows
// then load without those rows when asked, with their companions filtered to match.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BAD_CORPUS_DIR, type BadCase } from '../../scripts/make-bad-corpus';
import { readSafetensors } from '../io/safetensors';
import { parseNpy } from '../io/npy';
import type { FileOptions, SourceFile } from './types';
import type { Dataset } from './dataset';
import { isStreamed, Workspace } from './workspace';

const manifest: BadCase[] = JSON.parse(readFileSync(path.join(BAD_CORPUS_DIR, 'manifest.json'), 'utf8'));
const bytesOf = (file: string) => new Uint8Array(readFileSync(path.join(BAD_CORPUS_DIR, file)));
const source = (file: string, options?: FileOptions): SourceFile => ({ name: file, blob: new Blob([bytesOf(file)]), options });

/** Everything a workspace holds, by reference, and the activation values by copy (to catch changes in place). */
function snapshot(ws: Workspace) {
  return {
    refs: {
      dataset: ws.dataset, facts: ws.facts, tokens: ws.tokens, vocab: ws.vocab, docIds: ws.docIds, positions: ws.positions,
      imported: ws.imported, lm: ws.lm, tokenizer: ws.tokenizer, rowFilter: ws.rowFilter, datasetText: ws.datasetText,
    },
    labelSets: [...ws.labelSets],
    texts: [...ws.texts].map(([name, t]) => [name, t.text, t.corpus] as const),
    data: ws.dataset && !isStreamed(ws.dataset) ? Float32Array.from(ws.dataset.data) : null,
    tokenIds: ws.tokens ? Int32Array.from(ws.tokens.ids) : null,
  };
}

async function baseline(c: BadCase): Promise<Workspace> {
  const ws = new Workspace();
  const { results } = await ws.loadFiles((c.before ?? []).map((f) => source(f)));
  expect(results.filter((r) => r.kind === 'error' || r.kind === 'needs_shape'), `baseline of ${c.file}`).toEqual([]);
  return ws;
}

describe('the bad-file corpus in a workspace', () => {
  it('has an entry for every file and a baseline of good companions for each', () => {
    const bad = manifest.filter((c) => c.kind !== 'companion');
    expect(bad.length).toBeGreaterThan(80);
    for (const c of bad) {
      expect(c.before?.[0], c.file).toBe('companion-activations.npy');
      for (const f of c.before ?? []) expect(manifest.find((m) => m.file === f)?.kind, `${c.file} before ${f}`).toBe('companion');
    }
  });

  for (const c of manifest.filter((m) => m.kind !== 'companion')) {
    it(`${c.file}: ${c.what}`, async () => {
      const ws = await baseline(c);
      const before = snapshot(ws);
      const { results, sae } = await ws.loadFiles([source(c.file, c.options)]);
      expect(results, JSON.stringify(results)).toHaveLength(1);
      const [r] = results;
      expect(r.name).toBe(c.file);
      expect(r.kind).toBe(c.outcome ?? 'error');
      expect(r.message).toMatch(new RegExp(c.expect!));
      expect(sae).toBeUndefined();
      // Nothing loaded before changed: the same objects, and the same values.
      const after = snapshot(ws);
      for (const [key, value] of Object.entries(before.refs)) expect((after.refs as Record<string, unknown>)[key], key).toBe(value);
      expect(after.labelSets).toEqual(before.labelSets);
      for (const [i, [name, values]] of before.labelSets.entries()) expect(after.labelSets[i][1], name).toBe(values);
      expect(after.texts.length).toBe(before.texts.length);
      for (const [i, [name, text, corpus]] of before.texts.entries()) {
        expect(after.texts[i][0]).toBe(name);
        expect(after.texts[i][1]).toBe(text);
        expect(after.texts[i][2], `${name} was tokenised again`).toBe(corpus);
      }
      expect(after.data).toEqual(before.data);
      expect(after.tokenIds).toEqual(before.tokenIds);
      // Only an activation file refused for NaN/Inf rows it could do without offers to load without them.
      if (/^npy-(nan|inf)-rows|^st-nan-rows/.test(c.file)) expect(r.nonFinite).toEqual({ rows: 2, options: { excludeNonFinite: true } });
      else expect(r.nonFinite).toBeUndefined();
    });
  }
});

describe('activation files with NaN/Inf rows, loaded without them', () => {
  const good = parseNpy(bytesOf('companion-activations.npy').slice().buffer).data as Float32Array;
  const d = 8, N = good.length / d;
  const tokenIds = parseNpy(bytesOf('companion-tokens.npy').slice().buffer).data as Int32Array;
  const labels = readFileSync(path.join(BAD_CORPUS_DIR, 'companion-labels.csv'), 'utf8').trim().split('\n').slice(1).map(Number);

  /** The file's rows that hold NaN or Inf. */
  function badRows(file: string): number[] {
    const b = bytesOf(file).slice().buffer;
    const values = file.endsWith('.npy') ? parseNpy(b).data as Float32Array : Object.values(readSafetensors(b).tensors)[0].data;
    return Array.from({ length: N }, (_, r) => r).filter((r) => values.subarray(r * d, (r + 1) * d).some((v) => !Number.isFinite(v)));
  }
  const keep = <T>(values: ArrayLike<T>, bad: number[]) => Array.from(values).filter((_, r) => !bad.includes(r));

  for (const file of ['npy-nan-rows.npy', 'npy-inf-rows.npy', 'st-nan-rows.safetensors']) {
    it(`${file}: the count is reported; with excludeNonFinite the good rows load, and the companions follow`, async () => {
      const bad = badRows(file);
      expect(bad).toHaveLength(2);
      const ws = new Workspace();
      await ws.loadFiles([source('companion-activations.npy'), source('companion-tokens.npy')]);
      const refused = (await ws.loadFiles([source(file)])).results[0];
      expect(refused.message).toMatch(new RegExp(`^${file.replace(/\./g, '\\.')}: 2 rows \\(rows ${bad.join(', ')}\\) contain NaN or Inf`));
      expect(refused.nonFinite?.rows).toBe(2);

      // The same file again with the options the error offered, with labels of the file's length in the same drop.
      const { results } = await ws.loadFiles([source(file, refused.nonFinite!.options), source('companion-labels.csv')]);
      expect(results.map((r) => r.kind)).toEqual(['activations', 'labels']);
      expect(results[0].message).toMatch(new RegExp(`: ${N - 2} × ${d} float32 — 2 rows with NaN or Inf left out \\(file rows ${bad.join(', ')}\\); companion files of ${N} rows are filtered to the ${N - 2} kept`));
      const ds = ws.dataset as Dataset;
      expect(ds.rows).toBe(N - 2);
      expect(Array.from(ds.data)).toEqual(keep(Array.from({ length: N }, (_, r) => Array.from(good.subarray(r * d, (r + 1) * d))), bad).flat());
      expect(ws.rowFilter).toMatchObject({ file, fileRows: N });
      expect(Array.from(ws.rowFilter!.kept)).toEqual(keep(Array.from({ length: N }, (_, r) => r), bad));
      // Token ids loaded before and labels loaded with it: filtered to the kept rows.
      expect(Array.from(ws.tokens!.ids)).toEqual(keep(tokenIds, bad));
      expect(Array.from(ws.labelSets.get('companion-labels.csv')!)).toEqual(keep(labels, bad));
      // A companion dropped afterwards, of the file's length, is filtered too; one of neither length is refused.
      const later = await ws.loadFiles([source('companion-tokens.npy')]);
      expect(later.results[0].kind).toBe('tokens');
      expect(Array.from(ws.tokens!.ids)).toEqual(keep(tokenIds, bad));
      const wrong = await ws.loadFiles([source('tokens-wrong-count.npy')]);
      expect(wrong.results[0].message).toMatch(new RegExp(`tokens-wrong-count\\.npy has 3 token ids but the activations have ${N - 2} rows \\(${N} in ${file.replace(/\./g, '\\.')}, 2 with NaN/Inf left out\\)`));
      // Outlier rows and statistics are of the kept rows.
      expect(ws.facts!.stats.perDimMean.every(Number.isFinite)).toBe(true);
      for (const row of ws.facts!.outlierRows) expect(row).toBeLessThan(N - 2);
    });
  }

  it('a streamed file (over the memory budget) reads only the kept rows', async () => {
    const bad = badRows('npy-nan-rows.npy');
    const ws = new Workspace();
    const { results } = await ws.loadFiles([source('npy-nan-rows.npy', { excludeNonFinite: true })], { memoryBudgetBytes: 64 });
    expect(results[0].message).toMatch(/2 rows with NaN or Inf left out/);
    const ds = ws.dataset!;
    expect(isStreamed(ds)).toBe(true);
    if (!isStreamed(ds)) return;
    expect(ds.rows).toBe(N - 2);
    const all = await ds.source.readRows(0, N - 2);
    expect(Array.from(all)).toEqual(keep(Array.from({ length: N }, (_, r) => Array.from(good.subarray(r * d, (r + 1) * d))), bad).flat());
    expect(Array.from(await ds.source.readRows(1, 3))).toEqual(Array.from(all.subarray(d, 4 * d)));
  });

  it('a file with too few good rows is refused even when asked to leave them out, without the offer', async () => {
    const ws = new Workspace();
    const { results } = await ws.loadFiles([source('npy-all-nan.npy', { excludeNonFinite: true })]);
    expect(results[0].kind).toBe('error');
    expect(results[0].message).toMatch(/fewer than 2 rows are left to train on/);
    expect(results[0].nonFinite).toBeUndefined();
    expect(ws.dataset).toBeNull();
  });
});
