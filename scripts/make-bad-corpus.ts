// Writes fixtures/bad/: small, deterministic damaged or unsupported input files, one per failure a
// user can meet, and fixtures/bad/manifest.json saying what each is and which message it must get.
// Run with `npx tsx scripts/make-bad-corpus.ts`. src/io/badCorpus.test.ts checks the parsers against
// the manifest and that regenerating gives the same bytes; a workspace-level test can load each file.
//
// Manifest entries: { file, kind, what, expect, level, needs?, companion?, options? }
//   kind      activations | labels | vocab | tokens, or companion: a good file other entries need
//             (it has no expect or level)
//   expect    a regular expression the error message must match
//   level     "parser": the file's own parser rejects it (indexArrayFile + readArrayBytes + decode, or
//             parseLabels / parseVocab / parseTokens); "dataset": the file parses, and the dataset
//             code rejects its content (NaN/Inf rows) or its fit with the companion (row counts)
//   needs     "activations": load `companion` first when loading it into a workspace
//   options   indexArrayFile options (the shape a user gives a raw file)
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { zipSync } from 'fflate';

export interface BadCase {
  file: string;
  kind: 'activations' | 'labels' | 'vocab' | 'tokens' | 'companion';
  what: string;
  /** Absent only for a companion. */
  expect?: string;
  level?: 'parser' | 'dataset';
  needs?: 'activations';
  companion?: string;
  options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' };
}

// ---- builders (independent of the app's writers) ----------------------------------------------

const text = (s: string) => new TextEncoder().encode(s);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Float32 values i·0.25 − 1 (exact in float32), row-major. */
const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i * 0.25 - 1);
const bytesOf = (a: Float32Array | Int32Array | Float64Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** An .npy v1.0 file: magic, version, u16 header length, the header dict padded with spaces and '\n' to 64 bytes. */
function npy(descr: string, shape: number[], data: Uint8Array, fortran = false): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const head = new Uint8Array(10 + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, dict.length, true);
  head.set(text(dict), 10);
  return concat(head, data);
}

/** A safetensors file from a header object and data: u64 LE header length, the JSON (padded to 8), the data. */
function safetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(len, text(json), data);
}

/** A stored zip with a fixed timestamp, as numpy.savez writes one (entries deflated when level > 0). */
const zip = (entries: Record<string, Uint8Array>) => zipSync(entries, { level: 0, mtime: new Date(2020, 0, 1) });

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---- the corpus ---------------------------------------------------------------------------------

const ACTS = npy('<f4', [4, 8], bytesOf(ramp(32))); // a good [4, 8] float32 .npy (128-byte header)

function cases(): [BadCase, Uint8Array][] {
  const withNonFinite = (v: number) => { const a = ramp(32); a[2 * 8 + 3] = v; a[3 * 8] = v; return npy('<f4', [4, 8], bytesOf(a)); };
  const longHeader = ACTS.slice(0, 200);
  new DataView(longHeader.buffer).setUint16(8, 0xf000, true);
  const wrongMagic = ACTS.slice();
  wrongMagic[0] = 0x92;
  const stData = bytesOf(ramp(16));
  const stTruncatedJson = (() => {
    const good = safetensors({ acts: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } }, stData);
    const len = Number(new DataView(good.buffer).getBigUint64(0, true));
    good[8 + len - 10] = 0x5d; // a ']' where the header's closing brackets begin: not JSON any more
    return good;
  })();
  const npzGood = zip({ 'acts.npy': ACTS, 'tokens.npy': npy('<i4', [4], bytesOf(Int32Array.from([5, 9, 2, 7]))) });
  const companion = 'companion-activations.npy';
  const C = (file: string, kind: BadCase['kind'], what: string, expect: string, rest: Partial<BadCase> = {}): BadCase => ({ file, kind, what, expect, level: 'parser', ...rest });
  return [
    [{ file: companion, kind: 'companion', what: 'a good [4, 8] float32 activation file: load it before the entries that need activations' }, ACTS],

    // .npy
    [C('npy-truncated-header.npy', 'activations', 'an .npy cut off inside its header', re('npy-truncated-header.npy: its .npy header declares 118 bytes, past the end of the data (40 bytes in all); the file is truncated')), ACTS.slice(0, 40)],
    [C('npy-truncated-data.npy', 'activations', 'an .npy whose data stops halfway', re('npy-truncated-data.npy is truncated: its header declares shape [4, 8] float32 = 128 bytes of data but only 64 are present')), ACTS.slice(0, 128 + 64)],
    [C('npy-wrong-magic.npy', 'activations', 'an .npy whose first byte is not \\x93', re('npy-wrong-magic.npy is not a NumPy .npy file (it does not start with \\x93NUMPY)')), wrongMagic],
    [C('npy-header-length-beyond-file.npy', 'activations', 'an .npy header length (61,440) past the end of a 200-byte file', re('npy-header-length-beyond-file.npy: its .npy header declares 61,440 bytes, past the end of the data (200 bytes in all)')), longHeader],
    [C('npy-complex.npy', 'activations', 'complex64 values (<c8)', re('npy-complex.npy has dtype <c8 (complex numbers), which is not supported; save the real part')), npy('<c8', [2, 4], new Uint8Array(64))],
    [C('npy-object.npy', 'activations', 'an object array written with allow_pickle=True (|O)', re('npy-object.npy has dtype |O (an object array, saved with allow_pickle=True), which is not supported')),
      npy('|O', [2], concat(new Uint8Array([0x80, 0x04, 0x95]), text('fake pickle stream.')))],
    [C('npy-fortran.npy', 'activations', 'a Fortran-order (column-major) [4, 8] array', re('npy-fortran.npy is stored in Fortran (column-major) order; save np.ascontiguousarray(array) instead')), npy('<f4', [4, 8], bytesOf(ramp(32)), true)],
    [C('npy-big-endian.npy', 'activations', 'big-endian float32 (>f4)', re('npy-big-endian.npy is big-endian (>f4); convert it with array.astype("<f4")')), npy('>f4', [4, 8], new Uint8Array(128))],
    [C('npy-nan-rows.npy', 'activations', 'rows 2 and 3 hold NaN (a content check of the dataset code)', re('2 row(s) containing NaN or Inf (the first is row 2)'), { level: 'dataset' }), withNonFinite(NaN)],
    [C('npy-inf-rows.npy', 'activations', 'rows 2 and 3 hold +Inf (a content check of the dataset code)', re('2 row(s) containing NaN or Inf (the first is row 2)'), { level: 'dataset' }), withNonFinite(Infinity)],
    [C('npy-zero-rows.npy', 'activations', 'shape [0, 16]: no rows', re('npy-zero-rows.npy has shape [0, 16]: it holds no values')), npy('<f4', [0, 16], new Uint8Array(0))],
    [C('npy-huge-shape.npy', 'activations', 'a declared shape of 10^9 × 4096 float32 (16 TB) with 64 bytes of data', re('npy-huge-shape.npy is truncated: its header declares shape [1000000000, 4096] float32 = 16,384,000,000,000 bytes of data but only 64 are present')),
      npy('<f4', [1_000_000_000, 4096], bytesOf(ramp(16)))],

    // .safetensors
    [C('st-header-beyond-file.safetensors', 'activations', 'a header length of 4,096 in a 100-byte file', re('st-header-beyond-file.safetensors declares a 4,096-byte header but the file is 100 bytes; it is truncated')),
      (() => { const b = safetensors({ acts: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } }, stData).slice(0, 100); new DataView(b.buffer).setBigUint64(0, 4096n, true); return b; })()],
    [C('st-malformed-json.safetensors', 'activations', 'a header that is not valid JSON', '^' + re('st-malformed-json.safetensors has a header that is not valid JSON (') + '.+' + re('); the file is damaged')), stTruncatedJson],
    [C('st-offsets-beyond-file.safetensors', 'activations', 'tensor data_offsets [0, 4096] in a file with 64 bytes of data', re('st-offsets-beyond-file.safetensors: tensor "acts" lies at bytes ') + '[\\d,]+–[\\d,]+' + re(' but the file is only ') + '[\\d,]+' + re(' bytes; it is truncated')),
      safetensors({ acts: { dtype: 'F32', shape: [32, 32], data_offsets: [0, 4096] } }, stData)],
    [C('st-unsupported-dtype.safetensors', 'activations', 'an F8_E4M3 tensor', re('st-unsupported-dtype.safetensors: tensor "acts" has dtype F8_E4M3, which is not supported')),
      safetensors({ __metadata__: { format: 'pt' }, acts: { dtype: 'F8_E4M3', shape: [4, 4], data_offsets: [0, 16] } }, new Uint8Array(16))],

    // .npz
    [C('npz-truncated.npz', 'activations', 'an .npz cut in half (no end-of-archive record)', re('npz-truncated.npz is a truncated or damaged zip archive (no end-of-archive record')), npzGood.slice(0, npzGood.length >> 1)],
    [C('npz-not-npy.npz', 'activations', 'an .npz holding a text file beside its array', re('npz-not-npy.npz holds "notes.txt", which is not an .npy array')), zip({ 'acts.npy': ACTS, 'notes.txt': text('layer 6 residuals\n') })],

    // raw
    [C('raw-bad-width.f32', 'activations', '1,000 bytes (250 float32) given as 3 × 64', re('raw-bad-width.f32 has 1,000 bytes but shape [3, 64] float32 needs 768') + '.*' + re('It holds 250 float32 values, not a multiple of one row (d = 64 values)'), { options: { rawShape: [3, 64] } }),
      bytesOf(ramp(250))],

    // labels
    [C('labels-ragged.csv', 'labels', 'a CSV whose third line has fewer columns than the header', re('line 3 of labels-ragged.csv has 1 column but the labels are in column 2; give every line the same columns')), text('text,label\nthe cat,1\ndog\nbird,0\n')],
    [C('labels-non-numeric.csv', 'labels', 'a CSV label that is a word', re('is "maybe", not a number or true/false')), text('label\n1\n0\nmaybe\n1\n')],
    [C('labels-malformed.jsonl', 'labels', 'a JSONL line that is not JSON', re('line 2 of labels-malformed.jsonl is not valid JSON (')), text('{"label": 1}\n{"label": 0\n{"label": 1}\n')],
    [C('labels-wrong-count.csv', 'labels', '3 labels for 4 activation rows', re('labels-wrong-count.csv has 3 values but the activations have 4 rows'), { level: 'dataset', needs: 'activations', companion }), text('label\n1\n0\n1\n')],

    // vocab
    [C('vocab-malformed.json', 'vocab', 'a vocab that is not valid JSON (a trailing comma)', re('vocab-malformed.json is not valid JSON (')), text('["<s>", "the", "cat",]\n')],
    [C('vocab-number.json', 'vocab', 'a vocab that is a JSON number', re('vocab-number.json holds a number') + '.*' + re('; the vocab must be a JSON array of strings')), text('50257\n')],

    // tokens
    [C('tokens-float.npy', 'tokens', 'token ids saved as float32', re('tokens-float.npy holds float32 values; token ids'), { needs: 'activations', companion }), npy('<f4', [4], bytesOf(Float32Array.from([464, 3290, 13, 262])))],
    [C('tokens-negative.npy', 'tokens', 'a padding id -1 among the token ids', re('tokens-negative.npy holds token id -1 at index 2; token ids must be ≥ 0'), { needs: 'activations', companion }), npy('<i4', [4], bytesOf(Int32Array.from([464, 3290, -1, 262])))],
    [C('tokens-wrong-count.npy', 'tokens', '3 token ids for 4 activation rows', re('tokens-wrong-count.npy has 3 token ids but the activations have 4 rows'), { level: 'dataset', needs: 'activations', companion }), npy('<i4', [3], bytesOf(Int32Array.from([464, 3290, 13])))],
  ];
}

/** Every file of fixtures/bad/ by name, manifest.json included. */
export function badCorpus(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const manifest: BadCase[] = [];
  for (const [c, bytes] of cases()) {
    out[c.file] = bytes;
    manifest.push(c);
  }
  // One entry per line: readable, and diffs show which entry changed.
  out['manifest.json'] = text(`[\n${manifest.map((c) => '  ' + JSON.stringify(c)).join(',\n')}\n]\n`);
  return out;
}

export const BAD_CORPUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/bad');

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const files = badCorpus();
  mkdirSync(BAD_CORPUS_DIR, { recursive: true });
  for (const f of readdirSync(BAD_CORPUS_DIR)) if (!(f in files)) rmSync(path.join(BAD_CORPUS_DIR, f));
  let total = 0;
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(path.join(BAD_CORPUS_DIR, name), bytes);
    total += bytes.length;
  }
  console.log(`wrote ${Object.keys(files).length} files (${total.toLocaleString('en-US')} bytes) to ${path.relative(process.cwd(), BAD_CORPUS_DIR) || '.'}`);
}
