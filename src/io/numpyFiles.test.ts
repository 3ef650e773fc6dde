// Files written by NumPy itself (np.save, np.savez, np.savez_compressed, and a safetensors file
// assembled in Python per its specification) read back to exactly NumPy's values. Skipped, with a
// message, where python3 with numpy is not installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../data/workspace';
import { arrayRole, decodeFloat32, decodeInt32, indexArrayFile, readArrayBytes, type ReadRange } from './arrayFile';

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A safetensors writer in Python, by the specification: u64 header length, JSON header, raw data. */
const PY_SAFETENSORS = String.raw`
import json, struct, numpy as np
def safetensors(path, tensors, metadata=None):
    header, blobs, off = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, (dtype, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
`;

const WRITER = PY_SAFETENSORS + String.raw`
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

// ---- the array index itself on more NumPy-written files (header-level facts, roles, messages) ----

const WRITER_MORE = PY_SAFETENSORS + String.raw`
import json, struct, sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(1)
acts = rng.standard_normal((40, 8)).astype(np.float32)
tokens = rng.integers(0, 50257, 40).astype(np.int64)
doc_ids = (np.arange(40) // 7).astype(np.int64)
positions = np.concatenate([np.arange(7)] * 5 + [np.arange(5)]).astype(np.int32)
labels = (tokens % 3 == 0)
np.savez(f"{out}/roles.npz", acts=acts, tokens=tokens, doc_ids=doc_ids, positions=positions, labels=labels)
big = rng.standard_normal((300, 64)).astype(np.float32)
np.savez_compressed(f"{out}/big.npz", big=big, half=big.astype(np.float16), layers=np.stack([big, -big]))
big.tofile(f"{out}/big.f32")
big.astype(np.float16).tofile(f"{out}/big.f16.bin")
np.save(f"{out}/strings.npy", np.array(["ab", "cde"]))
np.save(f"{out}/objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
np.save(f"{out}/empty.npy", np.zeros((0, 8), np.float32))
np.save(f"{out}/wide_ids.npy", np.array([1, 2**40], np.int64))
np.save(f"{out}/fortran_layers.npy", np.asfortranarray(rng.standard_normal((2, 3, 4)).astype(np.float32)))
np.save(f"{out}/column.npy", np.asfortranarray(acts[:, :1]))     # F-ordered [40, 1]: same bytes as C order
safetensors(f"{out}/mixed.safetensors", {"acts": ("F32", acts), "ids": ("I64", tokens), "mask": ("BOOL", labels), "w64": ("F64", acts.astype(np.float64) / 7)}, {"format": "pt"})
np.concatenate([big.ravel(), big.astype(np.float16).astype(np.float32).ravel(), (acts.astype(np.float64) / 7).astype(np.float32).ravel()]).astype("<f4").tofile(f"{out}/expected_more.f32")
json.dump({"tokens": tokens.tolist(), "doc_ids": doc_ids.tolist(), "positions": positions.tolist(), "labels": labels.astype(int).tolist(),
           "acts": acts.ravel().tolist(), "header_len_roles": None}, open(f"{out}/expected_more.json", "w"))
`;

describe('the array index on NumPy-written files', () => {
  if (!numpy) it.skip('python3 with numpy is absent: skipped the NumPy-written file checks', () => {});
  else {
    const dir = mkdtempSync(path.join(tmpdir(), 'saewb-np-more-'));
    let expectedF32 = new Float32Array(0);
    let expected: { tokens: number[]; doc_ids: number[]; positions: number[]; labels: number[]; acts: number[] } = { tokens: [], doc_ids: [], positions: [], labels: [], acts: [] };
    beforeAll(() => {
      execFileSync('python3', ['-c', WRITER_MORE, dir]);
      expectedF32 = new Float32Array(new Uint8Array(readFileSync(path.join(dir, 'expected_more.f32'))).buffer);
      expected = JSON.parse(readFileSync(path.join(dir, 'expected_more.json'), 'utf8'));
    });
    const file = (f: string) => new Uint8Array(readFileSync(path.join(dir, f)));
    const open = (f: string, options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' }) => {
      const b = file(f);
      const read: ReadRange = async (s, e) => b.slice(s, e);
      return { read, index: () => indexArrayFile(f, b.length, read, options) };
    };
    const message = async (f: string, options?: { rawShape?: number[] }) => {
      try { await open(f, options).index(); } catch (e) { return (e as Error).message; }
      return 'no error';
    };
    const big = () => Array.from(expectedF32.subarray(0, 300 * 64));

    it('np.savez: every entry (force_zip64 local headers) with its dtype, offset and role; ids and labels exactly', async () => {
      const { read, index } = open('roles.npz');
      const idx = await index();
      expect(idx.format).toBe('npz');
      const roles: Record<string, string> = {};
      for (const layout of idx.arrays) {
        const bytes = await readArrayBytes(layout, read);
        const ints = layout.dtype.startsWith('int') ? decodeInt32(bytes, layout.dtype, layout.name) : undefined;
        roles[layout.name] = arrayRole(layout, ints);
        if (ints) expect(Array.from(ints)).toEqual(expected[layout.name as 'tokens' | 'doc_ids' | 'positions']);
        else expect(Array.from(decodeFloat32(bytes, layout.dtype))).toEqual(layout.name === 'labels' ? expected.labels : expected.acts.map(Math.fround));
      }
      expect(idx.arrays.map((a) => [a.name, a.dtype, a.shape])).toEqual([
        ['acts', 'float32', [40, 8]], ['tokens', 'int64', [40]], ['doc_ids', 'int64', [40]], ['positions', 'int32', [40]], ['labels', 'bool', [40]],
      ]);
      expect(roles).toEqual({ acts: 'activations', tokens: 'tokens', doc_ids: 'doc_ids', positions: 'positions', labels: 'labels' });
    });

    it('np.savez_compressed: float32, float16 and [L, N, d] entries inflate to NumPy\'s values', async () => {
      const { read, index } = open('big.npz');
      const idx = await index();
      expect(idx.arrays.every((a) => a.compressed && a.offset === 128)).toBe(true);
      const values = async (i: number) => Array.from(decodeFloat32(await readArrayBytes(idx.arrays[i], read), idx.arrays[i].dtype));
      expect(await values(0)).toEqual(big());
      expect(await values(1)).toEqual(Array.from(expectedF32.subarray(300 * 64, 2 * 300 * 64)));
      expect(idx.arrays[2].shape).toEqual([2, 300, 64]);
      expect((await values(2)).slice(300 * 64)).toEqual(big().map((v) => -v));
    });

    it('raw float32 and float16 dumps (ndarray.tofile) with their shape; a wrong shape suggests ones that fit', async () => {
      const f32 = open('big.f32', { rawShape: [300, 64] });
      const [layout] = (await f32.index()).arrays;
      expect(Array.from(decodeFloat32(await readArrayBytes(layout, f32.read), 'float32'))).toEqual(big());
      const f16 = open('big.f16.bin', { rawShape: [300, 64], rawDtype: 'float16' });
      const [half] = (await f16.index()).arrays;
      expect(Array.from(decodeFloat32(await readArrayBytes(half, f16.read), 'float16'))).toEqual(Array.from(expectedF32.subarray(300 * 64, 2 * 300 * 64)));
      expect(await message('big.f32')).toMatch(/big\.f32 is raw binary data \(76,800 bytes\) with no header/);
      expect(await message('big.f32', { rawShape: [300, 70] })).toMatch(/It holds 19,200 float32 values, not a multiple of one row \(d = 70 values\).*Shapes that would fit: N × 64 would need N = 300;/);
    });

    it('safetensors with __metadata__, I64, BOOL and F64 tensors', async () => {
      const { read, index } = open('mixed.safetensors');
      const idx = await index();
      expect(idx.arrays.map((a) => [a.name, a.dtype, a.shape])).toEqual([['acts', 'float32', [40, 8]], ['ids', 'int64', [40]], ['mask', 'bool', [40]], ['w64', 'float64', [40, 8]]]);
      const bytes = (i: number) => readArrayBytes(idx.arrays[i], read);
      expect(Array.from(decodeInt32(await bytes(1), 'int64', 'ids'))).toEqual(expected.tokens);
      expect(Array.from(decodeFloat32(await bytes(2), 'bool'))).toEqual(expected.labels);
      expect(Array.from(decodeFloat32(await bytes(3), 'float64'))).toEqual(Array.from(expectedF32.subarray(2 * 300 * 64)));
    });

    it('specific messages: text and object (pickled) arrays, zero rows, int64 beyond int32, Fortran-order [L, N, d]; an F-ordered column is fine', async () => {
      expect(await message('strings.npy')).toMatch(/strings\.npy has dtype <U3 \(text strings\), which is not supported/);
      expect(await message('objects.npy')).toMatch(/objects\.npy has dtype \|O \(an object array, saved with allow_pickle=True\)/);
      expect(await message('empty.npy')).toMatch(/empty\.npy has shape \[0, 8\]: it holds no values/);
      expect(await message('fortran_layers.npy')).toMatch(/Fortran \(column-major\) order/);
      const wide = open('wide_ids.npy');
      const [ids] = (await wide.index()).arrays;
      const bytes = await readArrayBytes(ids, wide.read);
      expect(() => decodeInt32(bytes, ids.dtype, 'wide_ids.npy')).toThrow(/wide_ids\.npy holds int64 value 1099511627776 at index 1/);
      const column = open('column.npy');
      const [col] = (await column.index()).arrays;
      expect(Array.from(decodeFloat32(await readArrayBytes(col, column.read), col.dtype))).toEqual(expected.acts.filter((_, i) => i % 8 === 0).map(Math.fround));
    });
  }
});
