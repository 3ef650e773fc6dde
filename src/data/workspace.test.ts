// Files dropped together are recognised by content, whatever their order and names; every failure
// names the file and the fix and leaves what was loaded untouched; big files are streamed.
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../io/npy';
import { writeSafetensors } from '../io/safetensors';
import type { SourceFile } from './types';
import { Workspace, isStreamed } from './workspace';

const file = (name: string, bytes: Uint8Array | string): SourceFile => ({ name, blob: new Blob([bytes as BlobPart]) });
const N = 60, d = 4;
const acts = Float32Array.from({ length: N * d }, (_, i) => Math.cos(i * 0.37) + (i % d));
const docs = Int32Array.from({ length: N }, (_, r) => Math.floor(r / 12));
const positions = Int32Array.from({ length: N }, (_, r) => 1 + (r % 12));
const tokens = Int32Array.from({ length: N }, (_, r) => (r * 7) % 10);
const vocab = JSON.stringify(Array.from({ length: 10 }, (_, i) => `t${i}`));

/** A safetensors file with one F16 tensor and one I64 tensor, assembled per the spec by hand. */
function safetensorsF16(): Uint8Array {
  const h16 = new Uint16Array(N * d);
  // Values exactly representable in f16: k/8.
  for (let i = 0; i < h16.length; i++) h16[i] = 0x3c00 + ((i % 8) << 7); // 1 + (i%8)/8
  const ids = new BigInt64Array(Array.from(tokens, (t) => BigInt(t)));
  const header = JSON.stringify({ acts: { dtype: 'F16', shape: [N, d], data_offsets: [0, h16.byteLength] }, ids: { dtype: 'I64', shape: [N], data_offsets: [h16.byteLength, h16.byteLength + ids.byteLength] } });
  const out = new Uint8Array(8 + header.length + h16.byteLength + ids.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(new TextEncoder().encode(header), 8);
  out.set(new Uint8Array(h16.buffer), 8 + header.length);
  out.set(new Uint8Array(ids.buffer), 8 + header.length + h16.byteLength);
  return out;
}

describe('Workspace.loadFiles', () => {
  it('recognises activations and companions by content, in any order and under any names', async () => {
    const ws = new Workspace();
    const { results } = await ws.loadFiles([
      file('b.npy', writeNpy(positions, [N])), file('words.json', vocab), file('a.npy', writeNpy(docs, [N])),
      file('ids.npy', writeNpy(tokens, [N])), file('x.npy', writeNpy(acts, [N, d])),
    ]);
    expect(results.map((r) => `${r.name}:${r.kind}`).sort()).toEqual(['a.npy:doc_ids', 'b.npy:positions', 'ids.npy:tokens', 'words.json:vocab', 'x.npy:activations']);
    expect(ws.dataset!.rows).toBe(N);
    expect(ws.docIds!.documents).toBe(5);
    expect(Array.from(ws.tokens!.ids)).toEqual(Array.from(tokens));
    expect(ws.facts!.stats.perDimMean).toHaveLength(d);
  });

  it('reads .npz archives (stored and deflated) and lists their arrays', async () => {
    for (const level of [0, 6] as const) {
      const npz = zipSync({ 'acts.npy': writeNpy(acts, [N, d]), 'tokens.npy': writeNpy(tokens, [N]) }, { level });
      const ws = new Workspace();
      const { results } = await ws.loadFiles([file('run.npz', npz)]);
      const main = results.find((r) => r.kind === 'activations')!;
      expect(main.choices!.map((c) => `${c.name}:${c.role}`)).toEqual(['acts:activations', 'tokens:tokens']);
      expect(Array.from((ws.dataset as { data: Float32Array }).data)).toEqual(Array.from(acts));
      expect(ws.tokens!.ids.length).toBe(N);
    }
  });

  it('reads F16 safetensors activations and I64 token ids from one file', async () => {
    const ws = new Workspace();
    const { results } = await ws.loadFiles([file('acts.safetensors', safetensorsF16()), file('vocab.json', vocab)]);
    expect(results.filter((r) => r.kind === 'error')).toEqual([]);
    const data = (ws.dataset as { data: Float32Array }).data;
    expect(data[0]).toBe(1);
    expect(data[3]).toBe(1.375);
    expect(Array.from(ws.tokens!.ids)).toEqual(Array.from(tokens));
  });

  it('asks for the shape of a raw file, then reads it, and says what would fit when it is wrong', async () => {
    const ws = new Workspace();
    const raw = new Uint8Array(acts.buffer.slice(0));
    let { results } = await ws.loadFiles([file('acts.f32', raw)]);
    expect(results[0]).toMatchObject({ kind: 'needs_shape', bytes: N * d * 4 });
    ({ results } = await ws.loadFiles([{ ...file('acts.f32', raw), options: { rawShape: [N, 5] } }]));
    expect(results[0].kind).toBe('error');
    expect(results[0].message).toMatch(/960 bytes but shape \[60, 5\] float32 needs 1,200/);
    ({ results } = await ws.loadFiles([{ ...file('acts.f32', raw), options: { rawShape: [N, d] } }]));
    expect(results[0].kind).toBe('activations');
    expect(ws.dataset!.rows).toBe(N);
  });

  it('streams a file over the memory budget, with the same statistics as in memory', async () => {
    const inMemory = new Workspace();
    await inMemory.loadFiles([file('x.npy', writeNpy(acts, [N, d]))]);
    const streamed = new Workspace();
    const progress: number[] = [];
    const { results } = await streamed.loadFiles([file('x.npy', writeNpy(acts, [N, d]))], { memoryBudgetBytes: 100, onProgress: (_l, done) => progress.push(done) });
    expect(results[0].message).toMatch(/streams it from the file/);
    expect(isStreamed(streamed.dataset!)).toBe(true);
    expect(progress[progress.length - 1]).toBe(N);
    const a = inMemory.facts!.stats, b = streamed.facts!.stats;
    for (let j = 0; j < d; j++) { expect(b.perDimMean[j]).toBeCloseTo(a.perDimMean[j], 10); expect(b.perDimStd[j]).toBeCloseTo(a.perDimStd[j], 10); }
    expect(b.normHistogram).toEqual(a.normHistogram);
  });

  it('keeps what it had when a file is broken or does not match, and says why', async () => {
    const ws = new Workspace();
    await ws.loadFiles([file('x.npy', writeNpy(acts, [N, d])), file('t.npy', writeNpy(tokens, [N]))]);
    const before = ws.dataset;
    const truncated = writeNpy(acts, [N, d]).slice(0, 200);
    const nan = Float32Array.from(acts); nan[5] = NaN; nan[77] = Infinity;
    const cases: [SourceFile, RegExp][] = [
      [file('cut.npy', truncated), /cut\.npy is truncated: (the|its) header declares shape \[60, 4\]/],
      [file('nan.npy', writeNpy(nan, [N, d])), /nan\.npy: 2 rows \(rows 1, 19\) contain NaN or Inf\. Load the file without them/],
      [file('short.npy', writeNpy(tokens.slice(0, 50), [50])), /short\.npy has 50 token ids but the activations have 60 rows/],
      [file('empty.npy', writeNpy(new Float32Array(0), [0, d])), /empty\.npy has shape \[0, 4\](:| and) (it )?holds no/],
      [file('bad.json', '{"model": 3'), /bad\.json is not valid JSON/],
      [file('big.json', JSON.stringify(['a', 'b'])), /big\.json has 2 pieces but t\.npy holds token id 7/],
      [file('magic.npy', new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Uint8Array(40)])), /magic\.npy is a truncated zip archive|magic\.npy is an empty zip/],
      [file('wrongmagic.npy', new TextEncoder().encode('hello, this is not numpy at all')), /wrongmagic\.npy is not a NumPy \.npy file \(it does not start with \\x93NUMPY\)/],
      [file('header.npy', writeNpy(acts, [N, d]).slice(0, 40)), /header\.npy: (the|its) \.npy header (runs|declares [\d,]+ bytes,) past the end/],
      [file('hugeheader.npy', (() => { const b = writeNpy(acts, [N, d]).slice(0, 64); b[6] = 2; new DataView(b.buffer).setUint32(8, 50_000, true); return b; })()), /hugeheader\.npy: (the|its) \.npy header (runs|declares [\d,]+ bytes,) past the end/],
      [file('dtype.npy', (() => { const b = writeNpy(acts, [N, d]); const at = Buffer.from(b).indexOf("'<f4'"); b[at + 2] = 'U'.charCodeAt(0); return b; })()), /dtype\.npy has dtype <U4\b/],
      [file('ragged.csv', 'label\n1\n0,1\n'), /ragged\.csv/],
      [file('words.csv', 'label\n' + Array.from({ length: N }, (_, i) => (i === 3 ? 'maybe' : '1')).join('\n')), /words\.csv.*maybe/],
      [file('bad.jsonl', '{"label": 1}\n{oops\n'), /bad\.jsonl/],
      [file('junk.bin', new Uint8Array([1, 2, 3])), /junk\.bin is raw data \(3 bytes\): give its shape/],
    ];
    for (const [f, message] of cases) {
      const { results } = await ws.loadFiles([f]);
      expect(results[0].message).toMatch(message);
      expect(ws.dataset).toBe(before);
      expect(ws.tokens!.ids.length).toBe(N);
    }
  });

  it('imports a SAELens directory or its zip, and returns a run config', async () => {
    const W = { shape: [d, 8], data: new Float32Array(d * 8).fill(0.5) };
    const files = {
      'cfg.json': new TextEncoder().encode(JSON.stringify({ architecture: 'topk', d_in: d, d_sae: 8, k: 2, metadata: { sae_lens_version: '6.5.1' } })),
      'sae_weights.safetensors': writeSafetensors({ W_enc: W, W_dec: { shape: [8, d], data: new Float32Array(8 * d) }, b_enc: { shape: [8], data: new Float32Array(8) }, b_dec: { shape: [d], data: new Float32Array(d) } }),
    };
    for (const drop of [[file('sae.zip', zipSync(files))], Object.entries(files).map(([n, b]) => file(n, b))]) {
      const ws = new Workspace();
      const { results, sae } = await ws.loadFiles(drop);
      expect(results.map((r) => r.kind)).toEqual(['sae']);
      expect(sae!.configInput).toMatchObject({ architecture: 'topk', k: 2, d_sae: 8 });
    }
    const ws = new Workspace();
    const { results } = await ws.loadFiles([file('run_config.json', JSON.stringify({ architecture: 'jumprelu', d_sae: 64 }))]);
    expect(results[0]).toMatchObject({ kind: 'run_config', config: { architecture: 'jumprelu', d_sae: 64 } });
    const lonely = await ws.loadFiles([file('cfg.json', files['cfg.json'])]);
    expect(lonely.results[0].message).toMatch(/drop sae_weights\.safetensors with it/);
  });

  it('reports outliers with their tokens and how many are first positions', async () => {
    const x = Float32Array.from(acts);
    for (const r of [0, 12, 24]) for (let j = 0; j < d; j++) x[r * d + j] *= 30; // document starts
    const ws = new Workspace();
    await ws.loadFiles([file('x.npy', writeNpy(x, [N, d])), file('p.npy', writeNpy(positions, [N])), file('t.npy', writeNpy(tokens, [N])), file('v.json', vocab)]);
    const o = ws.facts!.stats.outliers;
    expect(o.count).toBe(3);
    expect(o.atFirstPosition).toBe(3);
    expect(o.examples[1]).toMatchObject({ row: 12, position: 1, token: `t${tokens[12]}` });
  });
});
