// Files written by NumPy itself (np.save, np.savez, np.savez_compressed, and a safetensors file
// assembled in Python per its specification) read back to exactly NumPy's values. Skipped, with a
// message, where python3 with numpy is not installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Workspace } from '../data/workspace';
import { decodeFloat32, indexArrayFile, readArrayBytes, type ReadRange } from './arrayFile';

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const WRITER = String.raw`
import json, struct, sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
a = (rng.standard_normal((50, 6)) * 3).astype(np.float32)
a[0, :3] = [65504.0, 6.1e-05, -0.0]
np.save(f"{out}/f32.npy", a)
np.save(f"{out}/f16.npy", a.astype(np.float16))
np.save(f"{out}/f64.npy", a.astype(np.float64) / 3)
layers = np.stack([a, 2 * a, -a]).astype(np.float32)          # [3, 50, 6]
np.save(f"{out}/layers.npy", layers)
tokens = (np.arange(50) * 7 % 13).astype(np.int64)
np.save(f"{out}/tokens.npy", tokens)
np.savez(f"{out}/stored.npz", acts=a, tokens=tokens.astype(np.int32))
np.savez_compressed(f"{out}/deflated.npz", acts=a, doc_ids=(np.arange(50) // 10).astype(np.int32))
np.save(f"{out}/fortran.npy", np.asfortranarray(a))
np.save(f"{out}/bigendian.npy", a.astype(">f4"))
np.save(f"{out}/complex.npy", a.astype(np.complex64))
# safetensors by its specification: u64 header length, JSON header, raw little-endian data.
def safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
bf16 = (a.view(np.uint32) >> 16).astype(np.uint16)               # truncated bfloat16 bits
safetensors(f"{out}/acts.safetensors", {"f32": ("F32", a), "f16": ("F16", a.astype(np.float16)), "bf16": ("BF16", bf16)})
# Expected float32 values of each, as NumPy computes them.
np.concatenate([a.ravel(), a.astype(np.float16).astype(np.float32).ravel(), (a.astype(np.float64) / 3).astype(np.float32).ravel(),
                layers.ravel(), (bf16.astype(np.uint32) << 16).view(np.float32).ravel()]).astype("<f4").tofile(f"{out}/expected.f32")
`;

const numpy = hasNumpy();
if (!numpy) console.warn('numpyFiles.test.ts: python3 with numpy is not installed; the NumPy-written file tests are skipped.');

describe.skipIf(!numpy)('files written by NumPy', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'saewb-np-'));
  if (numpy) execFileSync('python3', ['-c', WRITER, dir]);
  const bytes = (f: string) => new Uint8Array(readFileSync(path.join(dir, f)));
  const reader = (f: string): ReadRange => { const b = bytes(f); return async (s, e) => b.slice(s, e); };
  const expected = numpy ? new Float32Array(bytes('expected.f32').buffer) : new Float32Array(0);
  const part = (i: number, n = 300) => Array.from(expected.subarray(i, i + n));
  const values = async (f: string, which = 0) => {
    const index = await indexArrayFile(f, bytes(f).length, reader(f));
    const layout = index.arrays[which];
    return { layout, values: Array.from(decodeFloat32(await readArrayBytes(layout, reader(f)), layout.dtype)) };
  };

  it('np.save float32, float16 and float64 read to NumPy\'s float32 values', async () => {
    expect((await values('f32.npy')).values).toEqual(part(0));
    expect((await values('f16.npy')).values).toEqual(part(300));
    expect((await values('f64.npy')).values).toEqual(part(600));
  });

  it('an [L, N, d] array loads as N rows of L·d (layer-major)', async () => {
    const { layout } = await values('layers.npy');
    expect(layout.shape).toEqual([3, 50, 6]);
    const ws = new Workspace();
    await ws.loadFiles([{ name: 'layers.npy', blob: new Blob([bytes('layers.npy')]) }]);
    const ds = ws.dataset as { data: Float32Array; nLayers: number };
    expect(ds.nLayers).toBe(3);
    const layers = part(900, 900);
    // Row n, layer l, dim j ← layers[l, n, j].
    for (const [n, l, j] of [[0, 0, 0], [7, 1, 3], [49, 2, 5]]) expect(ds.data[(n * 3 + l) * 6 + j]).toBe(layers[(l * 50 + n) * 6 + j]);
  });

  it('np.savez (stored) and np.savez_compressed (deflated) archives, with their companions', async () => {
    for (const f of ['stored.npz', 'deflated.npz']) {
      const ws = new Workspace();
      const { results } = await ws.loadFiles([{ name: f, blob: new Blob([bytes(f)]) }]);
      expect(results.filter((r) => r.kind === 'error')).toEqual([]);
      expect(Array.from((ws.dataset as { data: Float32Array }).data)).toEqual(part(0));
      if (f === 'stored.npz') expect(Array.from(ws.tokens!.ids)).toEqual(Array.from({ length: 50 }, (_, i) => (i * 7) % 13));
      else expect(ws.docIds!.documents).toBe(5);
    }
  });

  it('safetensors F32, F16 and BF16 tensors, written per the specification', async () => {
    expect((await values('acts.safetensors', 0)).values).toEqual(part(0));
    expect((await values('acts.safetensors', 1)).values).toEqual(part(300));
    expect((await values('acts.safetensors', 2)).values).toEqual(part(1800));
  });

  it('int64 token ids, and specific messages for Fortran order, big-endian and complex arrays', async () => {
    const ws = new Workspace();
    await ws.loadFiles([{ name: 'f32.npy', blob: new Blob([bytes('f32.npy')]) }, { name: 'tokens.npy', blob: new Blob([bytes('tokens.npy')]) }]);
    expect(ws.tokens!.ids[3]).toBe(21 % 13);
    const bad = async (f: string) => (await ws.loadFiles([{ name: f, blob: new Blob([bytes(f)]) }])).results[0].message;
    expect(await bad('fortran.npy')).toMatch(/Fortran \(column-major\) order; save np\.ascontiguousarray/);
    expect(await bad('bigendian.npy')).toMatch(/big-endian \(>f4\)/);
    expect(await bad('complex.npy')).toMatch(/complex\.npy .*<c8.*(not supported|float32)/);
    expect(ws.dataset!.name).toBe('f32.npy');
  });
});

describe.skipIf(!numpy)('the output of scripts/dump_activations.py', () => {
  it('loads with every companion recognised by content (its --self-test writes the same formats as a real dump)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'saewb-dump-'));
    for (const layers of [['6'], ['2', '6', '9']]) {
      execFileSync('python3', [path.resolve(import.meta.dirname, '../../scripts/dump_activations.py'), '--self-test', '--out', out, '--layers', ...layers], { stdio: 'ignore' });
      const ws = new Workspace();
      const files = ['activations.npy', 'tokens.npy', 'doc_ids.npy', 'positions.npy', 'vocab.json'].map((f) => ({ name: f, blob: new Blob([readFileSync(path.join(out, f))]) }));
      const { results } = await ws.loadFiles(files);
      expect(results.map((r) => r.kind).sort()).toEqual(['activations', 'doc_ids', 'positions', 'tokens', 'vocab']);
      expect(ws.dataset!.nLayers).toBe(layers.length);
      expect(ws.tokens!.ids.length).toBe(ws.dataset!.rows);
      expect(ws.docIds!.documents).toBeGreaterThan(1);
    }
  });
});

