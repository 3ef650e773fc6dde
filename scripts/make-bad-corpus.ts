// Writes fixtures/bad/: small, deterministic damaged or unsupported input files, one per failure a
// user can meet with a format the app reads, the good companion files they are loaded beside, and
// fixtures/bad/manifest.json saying what each is, how to load it and which message it must get.
// Run with `npx tsx scripts/make-bad-corpus.ts`. Tests driven by the manifest:
//   src/io/badCorpus.test.ts            the parsers alone (level "parser"); regeneration is byte-identical
//   src/data/badCorpus.workspace.test.ts every entry dropped into a loaded workspace (Workspace.loadFiles)
//   src/cli/main.test.ts                every entry given to the CLI (entry.cli)
//   e2e/badInput.spec.ts                a representative set dropped in the app
//
// Manifest entries: { file, kind, what, expect?, outcome?, level?, before?, options?, cli?, cliExpect? }
//   kind      what the file is meant to be (activations, labels, vocab, tokens, doc_ids, run_config,
//             sae (a SAELens directory as its zip), zip, model (llama2.c checkpoint), tokenizer
//             (llama2.c tokenizer.bin)), or companion: a good file other entries are loaded beside
//             (it has no expect or level)
//   expect    a regular expression the message must match, in the app and the workspace
//   outcome   "error" (the default) or "needs_shape": a file whose bytes cannot be told from raw
//             float data, so the app asks for its shape instead (never loads it as it is)
//   level     "parser": the file's own parser rejects it with `expect` (tested on the parser alone);
//             "workspace": the file parses, or is a combination of files, and the workspace rejects
//             it (content such as NaN/Inf rows, its fit with the loaded files, an SAE directory)
//   before    companion files to load into the workspace, in one drop, before this entry (the
//             baseline the entry must leave untouched); always starts with the good activations
//   options   the FileOptions the file is dropped with (the shape a user gives a raw file)
//   cli       the CLI arguments that give this file to the CLI: "@file" is this entry's path,
//             "@<name>" a corpus file's path, "@dir:<zip>" a directory holding the zip's files;
//             the test adds --out (and --config @companion-config.json to train when absent)
//   cliExpect the regular expression for the CLI's message when it differs from `expect` (the CLI
//             knows what each file is from its flag, and reads SAE directories itself)
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { zipSync } from 'fflate';

export interface BadCase {
  file: string;
  kind: 'activations' | 'labels' | 'vocab' | 'tokens' | 'doc_ids' | 'run_config' | 'sae' | 'zip' | 'model' | 'tokenizer' | 'companion';
  what: string;
  /** Absent only for a companion. */
  expect?: string;
  outcome?: 'error' | 'needs_shape';
  level?: 'parser' | 'workspace';
  before?: string[];
  options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' };
  cli?: string[];
  cliExpect?: string;
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
const bytesOf = (a: Float32Array | Int32Array | Uint32Array | Float64Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Deterministic "random" bytes (xorshift32). */
function randomBytes(n: number, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** An .npy file: magic, version, header length (u16 for 1.0, u32 for 2.0), the header dict padded with spaces and '\n' to 64 bytes. */
function npy(descr: string, shape: number[], data: Uint8Array, fortran = false, version = 1): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return npyWithHeader(`{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`, data, version);
}

function npyWithHeader(dictText: string, data: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  let dict = dictText;
  dict += ' '.repeat((64 - ((pre + dict.length + 1) % 64)) % 64) + '\n';
  const head = new Uint8Array(pre + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(head.buffer);
  if (version === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  head.set(text(dict), pre);
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

/** F32 tensors laid out one after the other, as safetensors writes them. */
function f32Tensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    parts.push(bytesOf(t.data));
    at += t.data.byteLength;
  }
  return safetensors(header, concat(...parts));
}

/** A stored zip with a fixed timestamp, as numpy.savez writes one. */
const zip = (entries: Record<string, Uint8Array>) => zipSync(entries, { level: 0, mtime: new Date(2020, 0, 1) });

/** A SAELens v6 directory: cfg.json and sae_weights.safetensors of a standard (ReLU) SAE. */
function saeFiles(dIn: number, dSae: number, cfgOverride: Record<string, unknown> = {}): { cfg: Uint8Array; weights: Uint8Array } {
  const wave = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * f) * 0.5));
  const weights = f32Tensors({
    W_enc: { shape: [dIn, dSae], data: wave(dIn * dSae, 0.7) },
    W_dec: { shape: [dSae, dIn], data: wave(dSae * dIn, 1.3) },
    b_enc: { shape: [dSae], data: new Float32Array(dSae) },
    b_dec: { shape: [dIn], data: new Float32Array(dIn) },
  });
  const cfg = {
    architecture: 'standard', d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true,
    normalize_activations: 'none', reshape_activations: 'none', metadata: { sae_lens_version: '6.5.1', model_name: 'unknown_model', hook_name: 'blocks.0.hook_resid_pre' },
    ...cfgOverride,
  };
  return { cfg: text(JSON.stringify(cfg) + '\n'), weights };
}

interface LlamaShape { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seqLen: number }

/** A llama2.c "version 0" checkpoint (7 int32, then float32 weights; shared classifier), small deterministic weights. */
function llamaModel(s: LlamaShape, header: number[] = [s.dim, s.hidden, s.layers, s.heads, s.kvHeads, s.vocab, s.seqLen]): Uint8Array {
  const hs = s.dim / s.heads;
  const kv = s.kvHeads * hs;
  const D = s.dim, H = s.hidden, L = s.layers;
  const floats = s.vocab * D + L * D + L * D * D + 2 * L * kv * D + L * D * D + L * D + 3 * L * H * D + D + s.seqLen * hs;
  const w = Float32Array.from({ length: floats }, (_, i) => Math.fround(Math.cos(i * 0.61) * 0.2));
  // The RMSNorm gains (rms_att, rms_ffn, rms_final) at 1.
  const ones = (at: number, n: number) => w.fill(1, at, at + n);
  ones(s.vocab * D, L * D);
  const rmsFfn = s.vocab * D + L * D + L * D * D + 2 * L * kv * D + L * D * D;
  ones(rmsFfn, L * D);
  ones(rmsFfn + L * D + 3 * L * H * D, D);
  return concat(bytesOf(Int32Array.from(header)), bytesOf(w));
}

/** A llama2.c tokenizer.bin: u32 max token length, then per token f32 score, u32 length, the bytes. */
function llamaTokenizer(pieces: string[], maxTokenLength?: number): Uint8Array {
  const parts: Uint8Array[] = [bytesOf(Uint32Array.from([maxTokenLength ?? Math.max(...pieces.map((p) => text(p).length))]))];
  pieces.forEach((p, i) => {
    const b = text(p);
    const head = new Uint8Array(8);
    const dv = new DataView(head.buffer);
    dv.setFloat32(0, i < 3 ? 0 : -i, true);
    dv.setUint32(4, b.length, true);
    parts.push(head, b);
  });
  return concat(...parts);
}

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---- the corpus ---------------------------------------------------------------------------------

export const N = 16, D = 8;
const ACTS = npy('<f4', [N, D], bytesOf(ramp(N * D))); // a good [16, 8] float32 .npy (128-byte header)
const TOKEN_IDS = Int32Array.from({ length: N }, (_, i) => (i * 7 + 3) % 11);
const VOCAB = Array.from({ length: 12 }, (_, i) => (i === 0 ? '<s>' : ` w${i}`));
const LLAMA: LlamaShape = { dim: 4, hidden: 8, layers: 1, heads: 2, kvHeads: 2, vocab: 16, seqLen: 4 };
const LLAMA_PIECES = ['<unk>', '\n<s>\n', '\n</s>\n', ' ', 'a', 'b', 'c', 'd', 'e', ' a', ' b', 'ab', 'ba', 'cd', 'de', ' the'];

/** Activations with the given rows spoiled by one NaN/Inf value each (the rest equal to ACTS). */
function spoiled(rows: Record<number, number>): Float32Array {
  const a = ramp(N * D);
  for (const [r, v] of Object.entries(rows)) a[Number(r) * D + 3] = v;
  return a;
}

function cases(): [BadCase, Uint8Array][] {
  const A = 'companion-activations.npy', TOK = 'companion-tokens.npy', VOC = 'companion-vocab.json', LAB = 'companion-labels.csv';
  const SAE = 'companion-sae.zip', MODEL = 'companion-model.bin', TOKZ = 'companion-tokenizer.bin', TEXT = 'companion-text.txt', CFG = 'companion-config.json';
  const acts = [A];
  const withSae = [A, SAE];
  const withLm = [A, MODEL, TOKZ, TEXT];
  const trainOn = (...more: string[]) => ['train', '--data', '@file', ...more];
  const beside = (flag: string, ...more: string[]) => ['train', '--data', `@${A}`, flag, '@file', ...more];
  const lm = (model: string, tokenizer: string) => ['train', '--lm', model, '--tokenizer', tokenizer, '--text', `@${TEXT}`, '--layer', '0'];

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
  const stHeaderTooLong = (() => { const b = safetensors({ acts: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } }, stData); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })();
  const npzGood = zip({ 'acts.npy': ACTS, 'tokens.npy': npy('<i4', [N], bytesOf(TOKEN_IDS)) });
  const sae = saeFiles(D, 8);
  const saeZip = zip({ 'cfg.json': sae.cfg, 'sae_weights.safetensors': sae.weights });
  const model = llamaModel(LLAMA);
  const tokenizer = llamaTokenizer(LLAMA_PIECES);
  const badHeads = model.slice();
  new DataView(badHeads.buffer).setInt32(12, 3, true);
  const nanWeight = model.slice();
  // w2 starts after the embedding, rms_att, wq, wk, wv, wo, rms_ffn and w1 (in floats).
  const w2At = 16 * 4 + 4 + 16 * 4 + 4 + 32;
  new DataView(nanWeight.buffer).setFloat32(28 + 4 * (w2At + 17), NaN, true);
  const badScore = tokenizer.slice();
  { // token 5's score (entries: 8 bytes + the piece's bytes each)
    let at = 4;
    for (let i = 0; i < 5; i++) at += 8 + text(LLAMA_PIECES[i]).length;
    new DataView(badScore.buffer).setFloat32(at, NaN, true);
  }
  const longToken = (() => {
    const b = tokenizer.slice();
    let at = 4;
    for (let i = 0; i < 4; i++) at += 8 + text(LLAMA_PIECES[i]).length;
    new DataView(b.buffer).setUint32(at + 4, 5000, true);
    return b;
  })();
  const badMaxLength = tokenizer.slice();
  new DataView(badMaxLength.buffer).setUint32(0, 0, true);
  const emptyZip = zip({});

  const C = (file: string, kind: BadCase['kind'], what: string, expect: string, rest: Partial<BadCase> = {}): BadCase => ({ file, kind, what, expect, level: 'parser', before: acts, ...rest });
  const companion = (file: string, what: string): BadCase => ({ file, kind: 'companion', what });
  const nonFinite = (file: string, rows: string) => re(`${file}: 2 rows (rows ${rows}) contain NaN or Inf. Load the file without them ("Load without the 2 rows with NaN/Inf" in the app, --exclude-nonfinite in the CLI`);
  return [
    // ---- good companions
    [companion(A, `good [${N}, ${D}] float32 activations: the baseline every entry is loaded beside`), ACTS],
    [companion(TOK, `good int32 token ids [${N}], one per row of ${A} (ids < 12)`), npy('<i4', [N], bytesOf(TOKEN_IDS))],
    [companion(VOC, 'a good vocab of 12 pieces for the token ids'), text(JSON.stringify(VOCAB) + '\n')],
    [companion(LAB, `good labels, ${N} rows`), text('label\n' + Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : 0)).join('\n') + '\n')],
    [companion(SAE, `a good SAELens export (standard, d_in ${D}, d_sae 8) as its zip`), saeZip],
    [companion(MODEL, 'a good llama2.c checkpoint (version 0): dim 4, hidden 8, 1 layer, 2 heads, vocab 16, seq_len 4'), model],
    [companion(TOKZ, 'a good llama2.c tokenizer.bin of 16 pieces for the model'), tokenizer],
    [companion(TEXT, 'a short text for the model'), text('ab ba cd\n\nde a b\n')],
    [companion(CFG, 'a small training config for the CLI'), text(JSON.stringify({ architecture: 'topk', d_sae: 16, k: 2, batch_size: 4, log_every: 1, val_every: 2 }) + '\n')],

    // ---- .npy
    [C('npy-truncated-header.npy', 'activations', 'an .npy cut off inside its header', re('npy-truncated-header.npy: its .npy header declares 118 bytes, past the end of the data (40 bytes in all); the file is truncated'), { cli: trainOn() }), ACTS.slice(0, 40)],
    [C('npy-truncated-data.npy', 'activations', 'an .npy whose data stops halfway', re(`npy-truncated-data.npy is truncated: its header declares shape [${N}, ${D}] float32 = 512 bytes of data but only 256 are present`), { cli: trainOn() }), ACTS.slice(0, 128 + 256)],
    [C('npy-wrong-magic.npy', 'activations', 'an .npy whose first byte is not \\x93', re('npy-wrong-magic.npy is not a NumPy .npy file (it does not start with \\x93NUMPY)'), { cli: trainOn() }), wrongMagic],
    [C('npy-random.npy', 'activations', '300 random bytes under .npy', re('npy-random.npy is not a NumPy .npy file (it does not start with \\x93NUMPY)'), { cli: trainOn() }), randomBytes(300, 11)],
    [C('npy-header-length-beyond-file.npy', 'activations', 'an .npy header length (61,440) past the end of a 200-byte file', re('npy-header-length-beyond-file.npy: its .npy header declares 61,440 bytes, past the end of the data (200 bytes in all)'), { cli: trainOn() }), longHeader],
    [C('npy-header-too-long.npy', 'activations', 'a version 2.0 .npy declaring a 50,000,000-byte header', re('npy-header-too-long.npy declares a 50,000,000-byte .npy header, which is not plausible'), { cli: trainOn() }),
      (() => { const b = npy('<f4', [N, D], bytesOf(ramp(N * D)), false, 2); new DataView(b.buffer).setUint32(8, 50_000_000, true); return b; })()],
    [C('npy-version-4.npy', 'activations', 'an .npy of format version 4.0', re('npy-version-4.npy uses .npy format version 4.0, which is not read here'), { cli: trainOn() }),
      (() => { const b = ACTS.slice(); b[6] = 4; return b; })()],
    [C('npy-malformed-header.npy', 'activations', 'an .npy header dict without its shape', re("npy-malformed-header.npy: its .npy header has no 'shape'"), { cli: trainOn() }), npyWithHeader("{'descr': '<f4', 'fortran_order': False, }", bytesOf(ramp(N * D)))],
    [C('npy-complex.npy', 'activations', 'complex64 values (<c8)', re('npy-complex.npy has dtype <c8 (complex numbers), which is not supported; save the real part'), { cli: trainOn() }), npy('<c8', [2, 4], new Uint8Array(64))],
    [C('npy-object.npy', 'activations', 'an object array written with allow_pickle=True (|O)', re('npy-object.npy has dtype |O (an object array, saved with allow_pickle=True), which is not supported'), { cli: trainOn() }),
      npy('|O', [2], concat(new Uint8Array([0x80, 0x04, 0x95]), text('fake pickle stream.')))],
    [C('npy-strings.npy', 'activations', 'an array of strings (<U4)', re('npy-strings.npy has dtype <U4 (text strings), which is not supported'), { cli: trainOn() }), npy('<U4', [2, 2], new Uint8Array(64))],
    [C('npy-fortran.npy', 'activations', `a Fortran-order (column-major) [${N}, ${D}] array`, re('npy-fortran.npy is stored in Fortran (column-major) order; save np.ascontiguousarray(array) instead'), { cli: trainOn() }), npy('<f4', [N, D], bytesOf(ramp(N * D)), true)],
    [C('npy-big-endian.npy', 'activations', 'big-endian float32 (>f4)', re('npy-big-endian.npy is big-endian (>f4); convert it with array.astype("<f4")'), { cli: trainOn() }), npy('>f4', [N, D], new Uint8Array(N * D * 4))],
    [C('npy-nan-rows.npy', 'activations', `rows 2 and 11 hold a NaN; the other rows equal ${A}`, nonFinite('npy-nan-rows.npy', '2, 11'), { level: 'workspace', cli: trainOn() }), npy('<f4', [N, D], bytesOf(spoiled({ 2: NaN, 11: NaN }) ))],
    [C('npy-inf-rows.npy', 'activations', `row 5 holds +Inf and row 9 −Inf; the other rows equal ${A}`, nonFinite('npy-inf-rows.npy', '5, 9'), { level: 'workspace', cli: trainOn() }), npy('<f4', [N, D], bytesOf(spoiled({ 5: Infinity, 9: -Infinity }) ))],
    [C('npy-all-nan.npy', 'activations', 'every row but one holds NaN: nothing is left to train on without them', re(`npy-all-nan.npy: 15 rows (rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …) of ${N} contain NaN or Inf, so fewer than 2 rows are left to train on`), { level: 'workspace', cli: trainOn('--exclude-nonfinite') }),
      npy('<f4', [N, D], bytesOf(spoiled(Object.fromEntries(Array.from({ length: N - 1 }, (_, r) => [r, NaN]))) ))],
    [C('npy-zero-rows.npy', 'activations', 'shape [0, 16]: no rows', re('npy-zero-rows.npy has shape [0, 16]: it holds no values'), { cli: trainOn() }), npy('<f4', [0, 16], new Uint8Array(0))],
    [C('npy-one-row.npy', 'activations', 'a single activation row: no validation split is possible', re('npy-one-row.npy has only 1 row; training needs at least 2 activation rows'), { level: 'workspace', cli: trainOn() }), npy('<f4', [1, D], bytesOf(ramp(D)))],
    [C('npy-4d.npy', 'activations', 'a 4-D float array [2, 2, 2, 2]', re('npy-4d.npy holds float32 [2, 2, 2, 2]: no activations (float [N, d] or [L, N, d])'), { level: 'workspace', cli: trainOn() }), npy('<f4', [2, 2, 2, 2], bytesOf(ramp(16)))],
    [C('npy-huge-shape.npy', 'activations', 'a declared shape of 10^9 × 4096 float32 (16 TB) with 64 bytes of data', re('npy-huge-shape.npy is truncated: its header declares shape [1000000000, 4096] float32 = 16,384,000,000,000 bytes of data but only 64 are present'), { cli: trainOn() }),
      npy('<f4', [1_000_000_000, 4096], bytesOf(ramp(16)))],

    // ---- .safetensors
    [C('st-header-beyond-file.safetensors', 'activations', 'a header length of 4,096 in a 100-byte file', re('st-header-beyond-file.safetensors declares a 4,096-byte header but the file is 100 bytes; it is truncated'), { cli: trainOn() }),
      (() => { const b = safetensors({ acts: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } }, stData).slice(0, 100); new DataView(b.buffer).setBigUint64(0, 4096n, true); return b; })()],
    [C('st-header-too-long.safetensors', 'activations', 'a declared header length of 2^40 bytes', re('st-header-too-long.safetensors declares a 1,099,511,627,776-byte JSON header, more than the 100,000,000 bytes the safetensors format allows'), { cli: trainOn() }), stHeaderTooLong],
    [C('st-malformed-json.safetensors', 'activations', 'a header that is not valid JSON', re('st-malformed-json.safetensors has a header that is not valid JSON (') + '.+' + re('); the file is damaged'), { cli: trainOn() }), stTruncatedJson],
    [C('st-missing-offsets.safetensors', 'activations', 'a tensor entry without data_offsets', re('st-missing-offsets.safetensors: tensor "acts" lacks dtype, shape or data_offsets in the header'), { cli: trainOn() }),
      safetensors({ acts: { dtype: 'F32', shape: [4, 4] } }, stData)],
    [C('st-random.safetensors', 'activations', '300 random bytes under .safetensors', re('st-random.safetensors is not a valid .safetensors file: its first 8 bytes do not give a plausible header length'), { cli: trainOn() }), randomBytes(300, 23)],
    [C('st-offsets-beyond-file.safetensors', 'activations', 'tensor data_offsets [0, 4096] in a file with 64 bytes of data', re('st-offsets-beyond-file.safetensors: tensor "acts" lies at bytes ') + '[\\d,]+–[\\d,]+' + re(' but the file is only ') + '[\\d,]+' + re(' bytes; it is truncated'), { cli: trainOn() }),
      safetensors({ acts: { dtype: 'F32', shape: [32, 32], data_offsets: [0, 4096] } }, stData)],
    [C('st-huge-shape.safetensors', 'activations', 'a tensor declared as [10^9, 4096] F32 (16 TB) in a 64-byte file', re('st-huge-shape.safetensors: tensor "acts" lies at bytes ') + '[\\d,]+–[\\d,]+' + re(' but the file is only ') + '[\\d,]+' + re(' bytes; it is truncated (or its header declares a shape, [1000000000, 4096] F32, that the file does not hold)'), { cli: trainOn() }),
      safetensors({ acts: { dtype: 'F32', shape: [1_000_000_000, 4096], data_offsets: [0, 16_384_000_000_000] } }, stData)],
    [C('st-unsupported-dtype.safetensors', 'activations', 'an F8_E4M3 tensor', re('st-unsupported-dtype.safetensors: tensor "acts" has dtype F8_E4M3, which is not supported'), { cli: trainOn() }),
      safetensors({ __metadata__: { format: 'pt' }, acts: { dtype: 'F8_E4M3', shape: [4, 4], data_offsets: [0, 16] } }, new Uint8Array(16))],
    [C('st-zero-rows.safetensors', 'activations', 'a tensor of shape [0, 8]', re('st-zero-rows.safetensors: tensor "acts" has shape [0, 8]: it holds no values'), { cli: trainOn() }),
      safetensors({ acts: { dtype: 'F32', shape: [0, 8], data_offsets: [0, 0] } }, new Uint8Array(0))],
    [C('st-nan-rows.safetensors', 'activations', `an F32 tensor [${N}, ${D}] whose rows 2 and 11 hold a NaN`, nonFinite('st-nan-rows.safetensors', '2, 11'), { level: 'workspace', cli: trainOn() }),
      f32Tensors({ acts: { shape: [N, D], data: spoiled({ 2: NaN, 11: NaN }) as never } })],

    // ---- .npz
    [C('npz-truncated.npz', 'activations', 'an .npz cut in half (no end-of-archive record)', re('npz-truncated.npz is a truncated or damaged zip archive (no end-of-archive record'), { cli: trainOn() }), npzGood.slice(0, npzGood.length >> 1)],
    [C('npz-empty.npz', 'activations', 'an .npz (zip) holding no arrays', re('npz-empty.npz is an empty zip archive; an .npz holds arrays saved with numpy.savez'), { cli: trainOn() }), emptyZip],
    [C('npz-random.npz', 'activations', '300 random bytes under .npz', re('npz-random.npz is not a zip archive (an .npz starts with PK, as numpy.savez writes it)'), { cli: trainOn() }), randomBytes(300, 37)],
    [C('npz-not-npy.npz', 'activations', 'an .npz holding a text file beside its array', re('npz-not-npy.npz holds "notes.txt", which is not an .npy array'), { cli: trainOn() }), zip({ 'acts.npy': ACTS, 'notes.txt': text('layer 6 residuals\n') })],
    [C('npz-truncated-member.npz', 'activations', 'an intact .npz whose acts.npy is cut short inside', re(`npz-truncated-member.npz: acts is truncated: its header declares shape [${N}, ${D}] float32 = 512 bytes of data but only 200 are present`), { cli: trainOn() }),
      zip({ 'acts.npy': ACTS.slice(0, 128 + 200) })],

    // ---- raw
    [C('raw-bad-width.f32', 'activations', '1,000 bytes (250 float32) given as 3 × 64', re('raw-bad-width.f32 has 1,000 bytes but shape [3, 64] float32 needs 768') + '.*' + re('It holds 250 float32 values, not a multiple of one row (d = 64 values)'), { options: { rawShape: [3, 64] }, cli: trainOn('--shape', '3,64') }),
      bytesOf(ramp(250))],
    [C('raw-huge-shape.f32', 'activations', '512 bytes given the shape 10^9 × 4096', re('raw-huge-shape.f32 has 512 bytes but shape [1000000000, 4096] float32 needs 16,384,000,000,000'), { options: { rawShape: [1_000_000_000, 4096] }, cli: trainOn('--shape', '1000000000,4096') }),
      bytesOf(ramp(128))],
    [C('raw-random.f32', 'activations', '1,000 random bytes under .f32 with no shape: the app asks for one', re('raw-random.f32 is raw data (1,000 bytes): give its shape'), { outcome: 'needs_shape', level: 'workspace', cli: trainOn(), cliExpect: re('raw-random.f32 is raw data (1,000 bytes): give its shape') + '.*' + re('(use --shape N,d)') }),
      randomBytes(1000, 41)],
    [C('random.bin', 'activations', '1,000 random bytes under .bin: not a llama2.c file, so raw data whose shape the app asks for', re('random.bin is raw data (1,000 bytes): give its shape'), { outcome: 'needs_shape', level: 'workspace', cli: trainOn(), cliExpect: re('random.bin is raw data (1,000 bytes): give its shape') + '.*' + re('(use --shape N,d)') }),
      randomBytes(1000, 43)],

    // ---- labels
    [C('labels-ragged.csv', 'labels', 'a CSV whose third line has fewer columns than the header', re('line 3 of labels-ragged.csv has 1 column but the labels are in column 2; give every line the same columns'), { cli: beside('--labels') }), text('text,label\nthe cat,1\ndog\nbird,0\n')],
    [C('labels-non-numeric.csv', 'labels', 'a CSV label that is a word', re('labels-non-numeric.csv') + '.*' + re('is "maybe", not a number or true/false'), { cli: beside('--labels') }), text('label\n1\n0\nmaybe\n1\n')],
    [C('labels-unclosed-quote.csv', 'labels', 'a CSV line that opens a quote it never closes', re('line 3 of labels-unclosed-quote.csv opens a quoted cell (") that is never closed'), { cli: beside('--labels') }), text('text,label\n"the cat",1\n"dog,0\nbird,1\n')],
    [C('labels-nan.csv', 'labels', 'a CSV label that is nan', re('line 3 of labels-nan.csv is "nan"; every label must be a finite number'), { cli: beside('--labels') }), text('label\n1\nnan\n0\n')],
    [C('labels-random.csv', 'labels', '300 random bytes under .csv (not UTF-8)', re('labels-random.csv is not UTF-8 text'), { cli: beside('--labels') }), randomBytes(300, 53)],
    [C('labels-malformed.jsonl', 'labels', 'a JSONL line that is not JSON', re('line 2 of labels-malformed.jsonl is not valid JSON ('), { cli: beside('--labels') }), text('{"label": 1}\n{"label": 0\n{"label": 1}\n')],
    [C('labels-no-key.jsonl', 'labels', 'JSONL objects without a label key', re('line 1 of labels-no-key.jsonl') + '.*' + re('"label"'), { cli: beside('--labels') }), text('{"lbl": 1}\n{"lbl": 0}\n')],
    [C('labels-wrong-count.csv', 'labels', `3 labels for ${N} activation rows`, re(`labels-wrong-count.csv has 3 values but the activations have ${N} rows`), { level: 'workspace', cli: beside('--labels') }), text('label\n1\n0\n1\n')],
    [C('labels-wrong-count.npy', 'labels', `a 1-D float .npy of 3 labels for ${N} activation rows`, re(`labels-wrong-count.npy has 3 values but the activations have ${N} rows`), { level: 'workspace', cli: beside('--labels') }), npy('<f4', [3], bytesOf(Float32Array.from([1, 0, 1])))],

    // ---- vocab
    [C('vocab-malformed.json', 'vocab', 'a vocab that is not valid JSON (a trailing comma)', re('vocab-malformed.json is not valid JSON ('), { cli: beside('--vocab') }), text('["<s>", "the", "cat",]\n')],
    [C('vocab-number.json', 'vocab', 'a vocab that is a JSON number', re('vocab-number.json holds a number') + '.*' + re('; the vocab must be a JSON array of strings'), { cli: beside('--vocab') }), text('50257\n')],
    [C('vocab-not-strings.json', 'vocab', 'a vocab array of numbers', re('entry 0 of vocab-not-strings.json is a number (1), not a string'), { cli: beside('--vocab') }), text('[1, 2, 3]\n')],
    [C('vocab-empty.json', 'vocab', 'an empty vocab array', re('vocab-empty.json holds no tokens'), { cli: beside('--vocab') }), text('[]\n')],
    [C('vocab-random.json', 'vocab', '300 random bytes under .json (not UTF-8)', re('vocab-random.json is not valid JSON (it is not UTF-8 text)'), { cli: beside('--vocab') }), randomBytes(300, 59)],
    [C('vocab-too-small.json', 'vocab', `3 pieces, but the loaded token ids go up to 10`, re(`vocab-too-small.json has 3 pieces but ${TOK} holds token id 3 (row 0)`), { level: 'workspace', before: [A, TOK], cli: ['train', '--data', `@${A}`, '--tokens', `@${TOK}`, '--vocab', '@file'] }),
      text('["<s>", " a", " b"]\n')],

    // ---- token ids, document ids
    [C('tokens-float.npy', 'tokens', 'token ids saved as float32', re('tokens-float.npy holds float32 values; token ids must be integers'), { cli: beside('--tokens') }), npy('<f4', [N], bytesOf(Float32Array.from(TOKEN_IDS)))],
    [C('tokens-negative.npy', 'tokens', 'a padding id -1 among the token ids', re('tokens-negative.npy holds token id -1 at index 2; token ids must be ≥ 0'), { cli: beside('--tokens') }), npy('<i4', [N], bytesOf(Int32Array.from(TOKEN_IDS, (v, i) => (i === 2 ? -1 : v))))],
    [C('tokens-int64-overflow.npy', 'tokens', 'an int64 token id of 2^40', re('tokens-int64-overflow.npy holds int64 value 1099511627776 at index 1, outside the int32 range'), { level: 'workspace', cli: beside('--tokens') }),
      npy('<i8', [N], bytesOf(BigInt64Array.from(TOKEN_IDS, (v, i) => (i === 1 ? 1n << 40n : BigInt(v)))))],
    [C('tokens-rows-differ.npy', 'tokens', `token ids [2, ${N}] whose two rows differ`, re(`tokens-rows-differ.npy has shape [2, ${N}] with different values per row; token ids must be one per activation row`), { level: 'workspace', cli: beside('--tokens') }),
      npy('<i4', [2, N], bytesOf(Int32Array.from({ length: 2 * N }, (_, i) => (i < N ? TOKEN_IDS[i] : (TOKEN_IDS[i - N] + 1) % 11))))],
    [C('tokens-wrong-count.npy', 'tokens', `3 token ids for ${N} activation rows`, re(`tokens-wrong-count.npy has 3 token ids but the activations have ${N} rows`), { level: 'workspace', cli: beside('--tokens') }), npy('<i4', [3], bytesOf(Int32Array.from([4, 9, 2])))],
    [C('doc-ids-wrong-count.npy', 'doc_ids', `5 document ids for ${N} activation rows`, re(`doc-ids-wrong-count.npy has 5 document ids but the activations have ${N} rows`), { level: 'workspace', cli: beside('--doc-ids') }), npy('<i4', [5], bytesOf(Int32Array.from([0, 0, 1, 1, 1])))],
    [C('doc-ids-float.npy', 'doc_ids', 'document ids saved as float32', re('doc-ids-float.npy holds float32 values; document ids must be integers'), { level: 'workspace', cli: beside('--doc-ids') }), npy('<f4', [N], bytesOf(Float32Array.from({ length: N }, (_, i) => i >> 2)))],

    // ---- run_config.json
    [C('run_config-malformed.json', 'run_config', 'a run config with a trailing comma', re('run_config-malformed.json is not valid JSON (') + '.*' + re('a run config is a JSON object'), { level: 'workspace', cli: ['train', '--data', `@${A}`, '--config', '@file'], cliExpect: re('the config') + '.*' + re('run_config-malformed.json is not valid JSON') }),
      text('{"architecture": "topk", "d_sae": 64, "k": 8,}\n')],
    [C('run_config-bad-k.json', 'run_config', 'a topk run config with k larger than d_sae', re('run_config-bad-k.json: k = 100 is larger than d_sae = 64; choose k ≤ d_sae'), { level: 'workspace', cli: ['train', '--data', `@${A}`, '--config', '@file'] }),
      text('{"architecture": "topk", "d_sae": 64, "k": 100}\n')],
    [C('run_config-unknown-architecture.json', 'run_config', 'a run config naming an architecture that does not exist', re('run_config-unknown-architecture.json: unknown architecture "transformer"; use one of relu'), { level: 'workspace', cli: ['train', '--data', `@${A}`, '--config', '@file'] }),
      text('{"architecture": "transformer", "d_sae": 64}\n')],
    [C('run_config-bad-value.json', 'run_config', 'a run config whose lr is a string', re('run_config-bad-value.json: config key "lr" is "fast"'), { level: 'workspace', cli: ['train', '--data', `@${A}`, '--config', '@file'] }),
      text('{"architecture": "relu", "d_sae": 64, "lr": "fast"}\n')],

    // ---- SAELens exports (zips of the directory)
    [C('sae-cfg-malformed.zip', 'sae', 'an SAE directory whose cfg.json is not valid JSON', re('sae-cfg-malformed.zip: the SAE directory cannot be read: cfg.json is not valid JSON ('), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@dir:sae-cfg-malformed.zip'], cliExpect: re('sae-cfg-malformed: the SAE directory cannot be read: cfg.json is not valid JSON (') }),
      zip({ 'cfg.json': text('{"architecture": "standard", "d_in": 8, "d_sae": 8,\n'), 'sae_weights.safetensors': sae.weights })],
    [C('sae-cfg-no-d-in.zip', 'sae', 'an SAE directory whose cfg.json lacks d_in', re('sae-cfg-no-d-in.zip: the SAE directory cannot be read: cfg.json has no d_in'), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@dir:sae-cfg-no-d-in.zip'], cliExpect: re('sae-cfg-no-d-in: the SAE directory cannot be read: cfg.json has no d_in') }),
      zip({ 'cfg.json': text(JSON.stringify({ architecture: 'standard', d_sae: 8, metadata: { sae_lens_version: '6.5.1' } })), 'sae_weights.safetensors': sae.weights })],
    [C('sae-cfg-shape-mismatch.zip', 'sae', 'cfg.json says d_sae 12 but the weights have d_sae 8', re('sae-cfg-shape-mismatch.zip: the SAE directory cannot be read: tensor W_enc has shape [8, 8] but d_in 8, d_sae 12 (from cfg.json) need [8, 12]'), { level: 'workspace', before: withSae, cli: ['eval', '--sae', '@dir:sae-cfg-shape-mismatch.zip', '--data', `@${A}`], cliExpect: re('sae-cfg-shape-mismatch: the SAE directory cannot be read: tensor W_enc has shape [8, 8] but d_in 8, d_sae 12 (from cfg.json) need [8, 12]') }),
      zip({ 'cfg.json': saeFiles(D, 12).cfg, 'sae_weights.safetensors': sae.weights })],
    [C('sae-weights-truncated.zip', 'sae', 'an SAE directory whose sae_weights.safetensors is cut short', re('sae-weights-truncated.zip: sae_weights.safetensors: tensor "') + '\\w+' + re('" lies at bytes'), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@dir:sae-weights-truncated.zip'], cliExpect: re('sae-weights-truncated: the SAE directory cannot be read: sae_weights.safetensors: tensor') + '.*' + re('it is truncated or damaged') }),
      zip({ 'cfg.json': sae.cfg, 'sae_weights.safetensors': sae.weights.slice(0, sae.weights.length - 100) })],
    [C('sae-no-weights.zip', 'sae', 'an SAE directory with cfg.json alone', re('sae-no-weights.zip: cfg.json is a SAELens config; drop sae_weights.safetensors with it'), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@dir:sae-no-weights.zip'], cliExpect: re('sae-no-weights has no sae_weights.safetensors') }),
      zip({ 'cfg.json': sae.cfg })],
    [C('sae-d-in-mismatch.zip', 'sae', `a good SAE with d_in 16, loaded beside activations of width ${D}`, re(`sae-d-in-mismatch.zip: the SAE takes d_in 16 but the loaded activations ${A} have rows of width ${D}`), { level: 'workspace', before: withSae, cli: ['eval', '--sae', '@dir:sae-d-in-mismatch.zip', '--data', `@${A}`], cliExpect: re(`sae-d-in-mismatch expects d_in = 16 but ${A} has rows of width ${D}`) }),
      (() => { const s = saeFiles(16, 4); return zip({ 'cfg.json': s.cfg, 'sae_weights.safetensors': s.weights }); })()],
    [C('sae-d-in-mismatch-init.zip', 'sae', `the same SAE with d_in 16 to continue training on activations of width ${D}`, re(`sae-d-in-mismatch-init.zip: the SAE takes d_in 16 but the loaded activations ${A} have rows of width ${D}`), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@dir:sae-d-in-mismatch-init.zip'], cliExpect: re(`sae-d-in-mismatch-init takes d_in 16 but ${A} has rows of width ${D}`) }),
      (() => { const s = saeFiles(16, 4); return zip({ 'cfg.json': s.cfg, 'sae_weights.safetensors': s.weights }); })()],

    // ---- zips
    [C('zip-truncated.zip', 'zip', 'the SAE zip cut in half', re('zip-truncated.zip is not a readable zip archive (') + '.*' + re('): it is truncated or damaged, or not a zip at all'), { level: 'workspace', before: withSae, cli: ['train', '--data', `@${A}`, '--init-from', '@file'] }),
      saeZip.slice(0, saeZip.length >> 1)],
    [C('zip-empty.zip', 'zip', 'a zip holding no files', re('zip-empty.zip holds no files; zip the SAELens directory'), { level: 'workspace', before: withSae, cli: trainOn() }), emptyZip],
    [C('zip-random.zip', 'zip', '300 random bytes under .zip', re('zip-random.zip is not a readable zip archive (') + '.*' + re('): it is truncated or damaged, or not a zip at all'), { level: 'workspace', before: withSae, cli: trainOn() }), randomBytes(300, 61)],

    // ---- llama2.c model checkpoints
    [C('model-truncated.bin', 'model', 'the checkpoint cut at 600 of its 1,004 bytes', re('model-truncated.bin has 600 bytes, but a llama2.c model with dim 4, hidden 8, 1 layers, 2/2 heads, vocab 16, seq_len 4 has 1,004: the file is truncated'), { before: withLm, cli: lm('@file', `@${TOKZ}`) }),
      model.slice(0, 600)],
    [C('model-bad-header.bin', 'model', 'a header whose n_heads (3) does not divide dim (4)', re('model-bad-header.bin is not a llama2.c checkpoint: the header [4, 8, 1, 3, 2, 16, 4] (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len) is not a llama2.c model: n_heads 3 does not divide dim 4'), { before: withLm, cli: lm('@file', `@${TOKZ}`) }),
      badHeads],
    [C('model-version-2.bin', 'model', 'a quantised (version 2) export', re('model-version-2.bin is not a llama2.c checkpoint: it is llama2.c export version 2; only version 0 (legacy) and 1 (float32) hold float32 weights'), { before: withLm, cli: lm('@file', `@${TOKZ}`) }),
      concat(text('24ka'), bytesOf(Int32Array.from([2, 4, 8, 1, 2, 2, 16, 4])), new Uint8Array(220))],
    [C('model-nan-weight.bin', 'model', 'a checkpoint with a NaN in w2', re('model-nan-weight.bin: weight w2 holds a non-finite value (NaN) at index 17; the checkpoint is damaged'), { before: withLm, cli: lm('@file', `@${TOKZ}`) }), nanWeight],
    [C('model-vocab-mismatch.bin', 'model', `a good checkpoint with vocab 32, beside the 16-piece ${TOKZ}`, re(`model-vocab-mismatch.bin has a vocabulary of 32 tokens but the loaded tokenizer ${TOKZ} has 16; load the model and the tokenizer of the same export`), { level: 'workspace', before: withLm, cli: lm('@file', `@${TOKZ}`), cliExpect: re(`${TOKZ} has 16 tokens but the model model-vocab-mismatch.bin has a vocabulary of 32`) }),
      llamaModel({ ...LLAMA, vocab: 32 })],
    [C('model-random.bin', 'model', '400 random bytes under .bin: the app cannot tell them from raw data', re('model-random.bin is raw data (400 bytes): give its shape'), { outcome: 'needs_shape', level: 'workspace', before: withLm, cli: lm('@file', `@${TOKZ}`), cliExpect: re('model-random.bin is not a llama2.c checkpoint: the header [') }),
      randomBytes(400, 67)],

    // ---- llama2.c tokenizers
    [C('tokenizer-truncated.bin', 'tokenizer', 'the tokenizer.bin cut inside its 11th token', re('tokenizer-truncated.bin is not a llama2.c tokenizer: token 10 ') + '.*' + re('so it is truncated; copy it again'), { before: withLm, cli: lm(`@${MODEL}`, '@file') }),
      tokenizer.slice(0, (() => { let at = 4; for (let i = 0; i < 10; i++) at += 8 + text(LLAMA_PIECES[i]).length; return at + 9; })())],
    [C('tokenizer-nan-score.bin', 'tokenizer', 'a tokenizer.bin whose 6th score is NaN', re('tokenizer-nan-score.bin is not a llama2.c tokenizer: token 5 has score NaN'), { before: withLm, cli: lm(`@${MODEL}`, '@file') }), badScore],
    [C('tokenizer-long-token.bin', 'tokenizer', 'a token declaring 5,000 bytes', re('tokenizer-long-token.bin is not a llama2.c tokenizer: token 4 declares 5000 bytes at byte ') + '\\d+' + re(', more than the max token length 6'), { before: withLm, cli: lm(`@${MODEL}`, '@file') }), longToken],
    [C('tokenizer-bad-max-length.bin', 'tokenizer', 'a tokenizer.bin whose max token length is 0', re('tokenizer-bad-max-length.bin is not a llama2.c tokenizer: the max token length 0 is implausible'), { before: withLm, cli: lm(`@${MODEL}`, '@file') }), badMaxLength],
    [C('tokenizer-too-small.bin', 'tokenizer', 'a good tokenizer of 8 pieces for the 16-token model', re(`tokenizer-too-small.bin has 8 tokens but the model ${MODEL} has a vocabulary of 16; load the tokenizer the model was trained with`), { level: 'workspace', before: withLm, cli: lm(`@${MODEL}`, '@file') }),
      llamaTokenizer(LLAMA_PIECES.slice(0, 8))],
    [C('tokenizer-random.bin', 'tokenizer', '400 random bytes under .bin: the app cannot tell them from raw data', re('tokenizer-random.bin is raw data (400 bytes): give its shape'), { outcome: 'needs_shape', level: 'workspace', before: withLm, cli: lm(`@${MODEL}`, '@file'), cliExpect: re('tokenizer-random.bin is not a llama2.c tokenizer: the max token length') }),
      randomBytes(400, 71)],
  ];
}

/** Every file of fixtures/bad/ by name, manifest.json included. */
export function badCorpus(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const manifest: BadCase[] = [];
  for (const [c, bytes] of cases()) {
    if (c.file in out) throw new Error(`two entries are named ${c.file}`);
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
