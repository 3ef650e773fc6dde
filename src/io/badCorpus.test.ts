// The bad-file corpus (fixtures/bad/, written by scripts/make-bad-corpus.ts): regenerating it gives
// the committed bytes; it covers every failure of the brief with a specific message (one that names
// the file); every parser-level entry fails in its own parser with a message matching the entry's
// `expect`; the good companions parse. Workspace-level entries (content such as NaN/Inf rows, the fit
// with other files, SAE directories, zips) are tested in src/data/badCorpus.workspace.test.ts, and
// every entry through the CLI in src/cli/main.test.ts.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { BAD_CORPUS_DIR, badCorpus, type BadCase } from '../../scripts/make-bad-corpus';
import { resolveConfig, type ConfigInput } from '../engine/config';
import { decodeFloat32, decodeInt32, indexArrayFile, readArrayBytes, type ReadRange } from './arrayFile';
import { parseLabels } from './labels';
import { parseLlama2cCheckpoint, parseLlama2cTokenizer } from './llama2c';
import { importSaeLens } from '../data/saeImport';
import { parseTokens, parseVocab } from './vocab';

const manifestPath = path.join(BAD_CORPUS_DIR, 'manifest.json');
const manifest: BadCase[] = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : [];
const bytesOf = (file: string) => new Uint8Array(readFileSync(path.join(BAD_CORPUS_DIR, file)));
const bufferOf = (file: string) => { const b = bytesOf(file); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer; };
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What the file's own parser makes of it, down to decoded values. */
async function parse(c: Pick<BadCase, 'file' | 'kind' | 'options'>): Promise<void> {
  const ext = path.extname(c.file);
  if (ext === '.csv' || ext === '.jsonl') { parseLabels(bufferOf(c.file), c.file); return; }
  if (ext === '.json' && (c.kind === 'vocab' || /vocab/.test(c.file))) { parseVocab(bufferOf(c.file), c.file); return; }
  if (ext === '.json') { resolveConfig(JSON.parse(new TextDecoder().decode(bytesOf(c.file))) as ConfigInput, 8, 1); return; }
  if (ext === '.txt') { new TextDecoder('utf-8', { fatal: true }).decode(bytesOf(c.file)); return; }
  if (c.kind === 'tokens') { parseTokens(bufferOf(c.file), c.file); return; }
  if (c.kind === 'model' || /model\.bin$/.test(c.file)) { parseLlama2cCheckpoint(bytesOf(c.file), c.file); return; }
  if (c.kind === 'tokenizer' || /tokenizer\.bin$/.test(c.file)) { parseLlama2cTokenizer(bytesOf(c.file), c.file); return; }
  if (ext === '.zip') {
    const files = unzipSync(bytesOf(c.file));
    const ab = (b: Uint8Array) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    importSaeLens({ cfg: ab(files['cfg.json']), weights: ab(files['sae_weights.safetensors']) });
    return;
  }
  const bytes = bytesOf(c.file);
  const read: ReadRange = async (s, e) => bytes.slice(s, e);
  const index = await indexArrayFile(c.file, bytes.length, read, c.options);
  for (const layout of index.arrays) {
    const data = await readArrayBytes(layout, read, c.file);
    if (layout.dtype.startsWith('int')) decodeInt32(data, layout.dtype, c.file);
    else decodeFloat32(data, layout.dtype);
  }
}

async function messageOf(c: Pick<BadCase, 'file' | 'kind' | 'options'>): Promise<string | undefined> {
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
    // Twice in a row: nothing in the script depends on the time or on chance.
    const again = badCorpus();
    for (const [name, bytes] of Object.entries(fresh)) expect(Buffer.from(again[name]).equals(Buffer.from(bytes)), name).toBe(true);
  });

  it('is small enough to commit: under 4 KiB a file, under 80 KiB in all with the manifest', () => {
    const sizes = Object.entries(badCorpus()).map(([name, b]) => [name, b.length] as const);
    for (const [name, size] of sizes) if (name !== 'manifest.json') expect(size, name).toBeLessThan(4096);
    expect(sizes.reduce((n, [, s]) => n + s, 0)).toBeLessThan(80 * 1024);
  });

  it('covers every failure of the brief, each described, loadable and with a specific, valid regex', () => {
    const files = manifest.map((c) => c.file);
    const wanted = [
      // .npy: truncated, wrong magic, header too long, dtypes, order, NaN/Inf rows, zero rows, huge shapes, random bytes
      'npy-truncated-header', 'npy-truncated-data', 'npy-wrong-magic', 'npy-random', 'npy-header-length-beyond-file', 'npy-header-too-long', 'npy-version-4',
      'npy-malformed-header', 'npy-complex', 'npy-object', 'npy-strings', 'npy-fortran', 'npy-big-endian', 'npy-nan-rows', 'npy-inf-rows', 'npy-all-nan',
      'npy-zero-rows', 'npy-one-row', 'npy-4d', 'npy-huge-shape',
      // .safetensors
      'st-header-beyond-file', 'st-header-too-long', 'st-malformed-json', 'st-missing-offsets', 'st-random', 'st-offsets-beyond-file', 'st-huge-shape',
      'st-unsupported-dtype', 'st-zero-rows', 'st-nan-rows',
      // .npz, raw
      'npz-truncated', 'npz-empty', 'npz-random', 'npz-not-npy', 'npz-truncated-member', 'raw-bad-width', 'raw-huge-shape', 'raw-random', 'random',
      // labels, vocab, token ids, document ids (malformed, and the row count against the activations)
      'labels-ragged', 'labels-non-numeric', 'labels-unclosed-quote', 'labels-nan', 'labels-random', 'labels-malformed', 'labels-no-key', 'labels-wrong-count',
      'vocab-malformed', 'vocab-number', 'vocab-not-strings', 'vocab-empty', 'vocab-random', 'vocab-too-small',
      'tokens-float', 'tokens-negative', 'tokens-int64-overflow', 'tokens-rows-differ', 'tokens-wrong-count', 'doc-ids-wrong-count', 'doc-ids-float',
      // run_config.json, SAELens exports (and the SAE's d_in against the activations), zips
      'run_config-malformed', 'run_config-bad-k', 'run_config-unknown-architecture', 'run_config-bad-value',
      'sae-cfg-malformed', 'sae-cfg-no-d-in', 'sae-cfg-shape-mismatch', 'sae-weights-truncated', 'sae-no-weights', 'sae-d-in-mismatch', 'sae-d-in-mismatch-init',
      'zip-truncated', 'zip-empty', 'zip-random',
      // llama2.c checkpoints and tokenizers (and their vocabularies against each other)
      'model-truncated', 'model-bad-header', 'model-version-2', 'model-nan-weight', 'model-vocab-mismatch', 'model-random',
      'tokenizer-truncated', 'tokenizer-nan-score', 'tokenizer-long-token', 'tokenizer-bad-max-length', 'tokenizer-too-small', 'tokenizer-random',
    ];
    for (const f of wanted) expect(files.some((name) => name.startsWith(f + '.')), f).toBe(true);
    for (const c of manifest) {
      expect(c.what.length, c.file).toBeGreaterThan(5);
      if (c.kind === 'companion') continue;
      expect(['parser', 'workspace'], c.file).toContain(c.level);
      // Specific: the message names the file (the CLI's may name the SAE directory a zip was unpacked to).
      expect(() => new RegExp(c.expect!), c.file).not.toThrow();
      expect(c.expect, c.file).toContain(re(c.file));
      expect(c.expect!.length - re(c.file).length, `${c.file}: the regex must say what is wrong, not only name the file`).toBeGreaterThan(15);
      if (c.cliExpect) {
        expect(() => new RegExp(c.cliExpect!), c.file).not.toThrow();
        expect(c.cliExpect.includes(re(c.file)) || c.cliExpect.includes(re(c.file.replace(/\.zip$/, ''))), `${c.file}: cliExpect names the file`).toBe(true);
      }
      // How to load it: companions first (in the workspace), and the CLI arguments that give it.
      for (const f of c.before ?? []) expect(manifest.find((m) => m.file === f)?.kind, `${c.file} before ${f}`).toBe('companion');
      expect(c.cli?.length, `${c.file} has no cli`).toBeGreaterThan(2);
      expect(c.cli!.some((a) => a === '@file' || a === `@dir:${c.file}`), `${c.file}: its cli does not give the file`).toBe(true);
      for (const a of c.cli!) {
        if (!a.startsWith('@') || a === '@file') continue;
        const name = a.replace(/^@(dir:)?/, '');
        expect(files, `${c.file}: ${a}`).toContain(name);
      }
    }
  });

  for (const c of manifest.filter((m) => m.level === 'parser')) {
    it(`${c.file}: ${c.what}`, async () => {
      const message = await messageOf(c);
      expect(message, `${c.file} was accepted`).toBeDefined();
      expect(message).toMatch(new RegExp(c.expect!));
    });
  }

  for (const c of manifest.filter((m) => m.kind === 'companion')) {
    it(`${c.file} (a good companion) parses cleanly`, async () => {
      expect(await messageOf(c)).toBeUndefined();
    });
  }
});
