// The bad-file corpus (fixtures/bad/, written by scripts/make-bad-corpus.ts): every parser-level
// entry of its manifest fails with a message matching the entry's `expect`; dataset-level entries
// (NaN/Inf rows, row counts against the companion) parse cleanly here — the dataset code rejects
// them; and regenerating the corpus gives the committed bytes.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BAD_CORPUS_DIR, badCorpus, type BadCase } from '../../scripts/make-bad-corpus';
import { decodeFloat32, decodeInt32, indexArrayFile, readArrayBytes, type ReadRange } from './arrayFile';
import { parseLabels } from './labels';
import { parseTokens, parseVocab } from './vocab';

const manifestPath = path.join(BAD_CORPUS_DIR, 'manifest.json');
const manifest: BadCase[] = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : [];
const bytesOf = (file: string) => new Uint8Array(readFileSync(path.join(BAD_CORPUS_DIR, file)));
const bufferOf = (file: string) => { const b = bytesOf(file); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer; };

/** What the app does with a file of this kind, down to decoded values. */
async function parse(c: BadCase): Promise<void> {
  switch (c.kind) {
    case 'labels': parseLabels(bufferOf(c.file), c.file); return;
    case 'vocab': parseVocab(bufferOf(c.file), c.file); return;
    case 'tokens': parseTokens(bufferOf(c.file), c.file); return;
    default: {
      const bytes = bytesOf(c.file);
      const read: ReadRange = async (s, e) => bytes.slice(s, e);
      const index = await indexArrayFile(c.file, bytes.length, read, c.options);
      for (const layout of index.arrays) {
        const data = await readArrayBytes(layout, read, c.file);
        if (layout.dtype.startsWith('int')) decodeInt32(data, layout.dtype, c.file);
        else decodeFloat32(data, layout.dtype);
      }
    }
  }
}

async function messageOf(c: BadCase): Promise<string | undefined> {
  try {
    await parse(c);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('bad-file corpus', () => {
  it('exists, and regenerating it gives the same files byte for byte', () => {
    expect(existsSync(manifestPath), 'fixtures/bad/manifest.json is missing: run npx tsx scripts/make-bad-corpus.ts').toBe(true);
    const fresh = badCorpus();
    expect(readdirSync(BAD_CORPUS_DIR).sort()).toEqual(Object.keys(fresh).sort());
    for (const [name, bytes] of Object.entries(fresh)) expect(Buffer.from(bytesOf(name)).equals(Buffer.from(bytes)), `${name} differs from a fresh run of the script`).toBe(true);
  });

  it('is small enough to commit: under 4 KiB a bad file, under 64 KiB in all with the manifest', () => {
    const sizes = Object.entries(badCorpus()).map(([name, b]) => [name, b.length] as const);
    for (const [name, size] of sizes) if (name !== 'manifest.json') expect(size, name).toBeLessThan(4096);
    expect(sizes.reduce((n, [, s]) => n + s, 0)).toBeLessThan(65536);
  });

  it('covers every failure of the brief, each described, with a valid regex', () => {
    const files = manifest.map((c) => c.file);
    for (const f of ['npy-truncated-header', 'npy-truncated-data', 'npy-wrong-magic', 'npy-header-length-beyond-file', 'npy-complex', 'npy-object', 'npy-fortran',
      'npy-big-endian', 'npy-nan-rows', 'npy-inf-rows', 'npy-zero-rows', 'npy-huge-shape', 'st-header-beyond-file', 'st-malformed-json', 'st-offsets-beyond-file',
      'st-unsupported-dtype', 'npz-truncated', 'npz-not-npy', 'raw-bad-width', 'labels-ragged', 'labels-non-numeric', 'labels-malformed', 'vocab-malformed',
      'vocab-number', 'tokens-float', 'tokens-negative']) expect(files.some((name) => name.startsWith(f + '.')), f).toBe(true);
    for (const c of manifest) {
      expect(c.what.length, c.file).toBeGreaterThan(5);
      if (c.kind === 'companion') continue;
      expect(() => new RegExp(c.expect!), c.file).not.toThrow();
      if (c.needs) expect(manifest.some((m) => m.file === c.companion && m.kind === 'companion'), c.file).toBe(true);
    }
  });

  for (const c of manifest.filter((m) => m.level === 'parser')) {
    it(`${c.file}: ${c.what}`, async () => {
      const message = await messageOf(c);
      expect(message, `${c.file} was accepted`).toBeDefined();
      expect(message).toMatch(new RegExp(c.expect!));
    });
  }

  for (const c of manifest.filter((m) => m.level === 'dataset' || m.kind === 'companion')) {
    it(`${c.file} parses cleanly (${c.kind === 'companion' ? 'the companion' : 'the dataset code rejects it'})`, async () => {
      expect(await messageOf(c)).toBeUndefined();
    });
  }
});
