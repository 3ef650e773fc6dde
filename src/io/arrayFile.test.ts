// The array-file index on bytes assembled by hand from the format specifications (.npy v1.0/v2.0,
// safetensors, zip/zip64), independently of our writers: names, dtypes, shapes, offsets (read back
// and compared), header-only reading, value decoding, roles, and each failure's message.
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  ArrayFileError, NeedsShapeError, arrayRole, decodeFloat32, decodeInt32, indexArrayFile, readArrayBytes,
  type ArrayLayout, type FileIndex, type ReadRange,
} from './arrayFile';

// ---- byte builders ----------------------------------------------------------------------------

const le = {
  f32: (v: number[]) => new Uint8Array(new Float32Array(v).buffer),
  f64: (v: number[]) => new Uint8Array(new Float64Array(v).buffer),
  i32: (v: number[]) => new Uint8Array(new Int32Array(v).buffer),
  i64: (v: bigint[]) => new Uint8Array(new BigInt64Array(v).buffer),
  u16: (v: number[]) => new Uint8Array(new Uint16Array(v).buffer),
};

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** An .npy per the format spec: magic, version, header length (u16 in v1.0, u32 in v2.0), dict padded to 64 with '\n' last. */
function npy(descr: string, shape: number[], data: Uint8Array, opts: { version?: 1 | 2; fortran?: boolean; dict?: string } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const pre = version === 1 ? 10 : 12;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = opts.dict ?? `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((pre + dict.length + 1) % 64)) % 64) + '\n';
  const head = new Uint8Array(pre + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) new DataView(head.buffer).setUint16(8, dict.length, true);
  else new DataView(head.buffer).setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) head[pre + i] = dict.charCodeAt(i);
  return concat(head, data);
}

/** A safetensors file per its spec: u64 LE header length, JSON header (padded with spaces to 8), data. */
function safetensors(tensors: [string, string, number[], Uint8Array][], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, dtype, shape, data] of tensors) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(len, new TextEncoder().encode(json), ...tensors.map((t) => t[3]));
}

const MTIME = new Date(2020, 0, 1);
const npz = (entries: Record<string, Uint8Array>, level: 0 | 6) => zipSync(entries, { level, mtime: MTIME });

interface Reader { read: ReadRange; reads: [number, number][]; bytesRead: () => number }

function reader(bytes: Uint8Array): Reader {
  const reads: [number, number][] = [];
  return {
    reads,
    read: async (s, e) => { reads.push([s, e]); return bytes.slice(s, Math.min(e, bytes.length)); },
    bytesRead: () => reads.reduce((n, [s, e]) => n + Math.min(e, bytes.length) - s, 0),
  };
}

/** A file of `size` bytes that is zero except at the given segments; refuses reads over 1 MiB (indexing reads headers only). */
function sparseReader(size: number, segments: { at: number; bytes: Uint8Array }[]): ReadRange {
  return async (start, end) => {
    end = Math.min(end, size);
    if (end - start > 1 << 20) throw new Error(`read of ${end - start} bytes: the index must read headers only`);
    const out = new Uint8Array(Math.max(0, end - start));
    for (const { at, bytes } of segments) {
      const a = Math.max(start, at), b = Math.min(end, at + bytes.length);
      if (a < b) out.set(bytes.subarray(a - at, b - at), a - start);
    }
    return out;
  };
}

async function index(name: string, bytes: Uint8Array, options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' }): Promise<FileIndex> {
  return indexArrayFile(name, bytes.length, reader(bytes).read, options);
}

async function failure(name: string, bytes: Uint8Array, options?: { rawShape?: number[] }): Promise<string> {
  try {
    await index(name, bytes, options);
  } catch (e) {
    expect(e).toBeInstanceOf(ArrayFileError);
    expect((e as Error).name).toMatch(/ArrayFileError|NeedsShapeError/);
    return (e as Error).message;
  }
  throw new Error(`${name} was indexed without an error`);
}

async function floats(layout: ArrayLayout, bytes: Uint8Array): Promise<number[]> {
  return Array.from(decodeFloat32(await readArrayBytes(layout, reader(bytes).read), layout.dtype));
}

const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));
const fround = (v: number[]) => v.map(Math.fround);

// ---- .npy -------------------------------------------------------------------------------------

describe('.npy', () => {
  it('v1.0 float32 [N, d]: name, dtype, shape, data offset after the header (padded to 64 bytes, 128 as NumPy writes); reads only the header', async () => {
    const values = range(12, (i) => i * 0.5 - 2);
    const file = npy('<f4', [3, 4], le.f32(values));
    const r = reader(file);
    const idx = await indexArrayFile('acts.npy', file.length, r.read);
    expect(idx.format).toBe('npy');
    expect(idx.arrays).toEqual([{ name: 'acts.npy', dtype: 'float32', shape: [3, 4], offset: 128, byteLength: 48 }]);
    expect(r.reads.every(([s, e]) => e <= 128 && s >= 0)).toBe(true);
    expect(await floats(idx.arrays[0], file)).toEqual(values);
  });

  it('v2.0 header (u32 length) float16 [2, 3]', async () => {
    const halves = [0x3c00, 0xc000, 0x3800, 0x0000, 0x4200, 0xbc00]; // 1, -2, 0.5, 0, 3, -1
    const file = npy('<f2', [2, 3], le.u16(halves), { version: 2 });
    const [a] = (await index('h.npy', file)).arrays;
    expect(a).toMatchObject({ dtype: 'float16', shape: [2, 3], offset: 128, byteLength: 12 });
    expect(new DataView(file.buffer).getUint32(8, true)).toBe(128 - 12);
    expect(await floats(a, file)).toEqual([1, -2, 0.5, 0, 3, -1]);
  });

  it('float64 rounds to the nearest float32; int32 and int64 ids; [L, N, d]', async () => {
    const f64 = [0.1, -1 / 3, 1e-300, 3e38, 1e39];
    const a = (await index('d.npy', npy('<f8', [5, 1], le.f64(f64)))).arrays[0];
    expect(a).toMatchObject({ dtype: 'float64', shape: [5, 1], byteLength: 40 });
    expect(await floats(a, npy('<f8', [5, 1], le.f64(f64)))).toEqual([Math.fround(0.1), Math.fround(-1 / 3), 0, Math.fround(3e38), Infinity]);

    const i4 = npy('<i4', [4], le.i32([5, -1, 2147483647, 0]));
    const t = (await index('t.npy', i4)).arrays[0];
    expect(t).toMatchObject({ dtype: 'int32', shape: [4], byteLength: 16 });
    expect(Array.from(decodeInt32(await readArrayBytes(t, reader(i4).read), t.dtype, 't.npy'))).toEqual([5, -1, 2147483647, 0]);

    const i8 = npy('<i8', [3], le.i64([7n, -2147483648n, 50256n]));
    const t8 = (await index('t8.npy', i8)).arrays[0];
    expect(t8).toMatchObject({ dtype: 'int64', shape: [3], byteLength: 24 });
    expect(Array.from(decodeInt32(await readArrayBytes(t8, reader(i8).read), 'int64', 't8.npy'))).toEqual([7, -2147483648, 50256]);

    const lnd = range(2 * 3 * 4, (i) => i - 7.25);
    const layered = npy('<f4', [2, 3, 4], le.f32(lnd));
    const l = (await index('layers.npy', layered)).arrays[0];
    expect(l).toMatchObject({ shape: [2, 3, 4], byteLength: 96, offset: 128 });
    // Layer 1, row 2 lies at offset + ((1·3 + 2)·4)·4 bytes.
    const row = await reader(layered).read(l.offset + (1 * 3 + 2) * 16, l.offset + (1 * 3 + 3) * 16);
    expect(Array.from(decodeFloat32(row, 'float32'))).toEqual(lnd.slice(20, 24));
  });

  it('content decides the format, not the extension; a 1-D Fortran-order array is accepted (same bytes)', async () => {
    expect((await index('acts.bin', npy('<f4', [1, 2], le.f32([1, 2])))).format).toBe('npy');
    const fortran1d = npy('<f4', [3], le.f32([1, 2, 3]), { fortran: true });
    expect(await floats((await index('v.npy', fortran1d)).arrays[0], fortran1d)).toEqual([1, 2, 3]);
  });

  it('a huge declared shape is indexed without reading the data (streaming), and must match the file size', async () => {
    const header = npy('<f2', [2 ** 31, 4096], new Uint8Array(0));
    const byteLength = 2 ** 31 * 4096 * 2; // 16 TiB
    const size = header.length + byteLength;
    const idx = await indexArrayFile('huge.npy', size, sparseReader(size, [{ at: 0, bytes: header }]));
    expect(idx.arrays[0]).toEqual({ name: 'huge.npy', dtype: 'float16', shape: [2 ** 31, 4096], offset: 128, byteLength });
    await expect(indexArrayFile('huge.npy', size - 2, sparseReader(size - 2, [{ at: 0, bytes: header }]))).rejects.toThrow(
      /huge\.npy is truncated: its header declares shape \[2147483648, 4096\] float16 = 17,592,186,044,416 bytes of data but only 17,592,186,044,414 are present/,
    );
  });

  it('says exactly what is wrong with a damaged or unsupported .npy', async () => {
    const good = npy('<f4', [2, 2], le.f32([1, 2, 3, 4]));
    expect(await failure('a.npy', good.slice(0, 40))).toMatch(/a\.npy: its \.npy header declares 118 bytes, past the end of the data \(40 bytes in all\); the file is truncated/);
    expect(await failure('a.npy', good.slice(0, 8))).toMatch(/a\.npy is truncated inside its \.npy header \(only 8 bytes\)/);
    expect(await failure('a.npy', good.slice(0, 4))).toMatch(/a\.npy is truncated inside its \.npy header \(the file has only 4 bytes\)/);
    const longHeader = good.slice();
    new DataView(longHeader.buffer).setUint16(8, 60000, true);
    expect(await failure('a.npy', longHeader)).toMatch(/header declares 60,000 bytes, past the end of the data \(144 bytes in all\)/);
    expect(await failure('a.npy', good.slice(0, 134))).toMatch(/a\.npy is truncated: its header declares shape \[2, 2\] float32 = 16 bytes of data but only 6 are present/);
    const wrongMagic = good.slice();
    wrongMagic[1] = 0x4f;
    expect(await failure('a.npy', wrongMagic)).toMatch(/a\.npy is not a NumPy \.npy file \(it does not start with \\x93NUMPY\)/);
    expect(await failure('a.npy', npy('<f4', [2, 2], le.f32([1, 2, 3, 4]), { fortran: true }))).toMatch(/Fortran \(column-major\) order; save np\.ascontiguousarray\(array\)/);
    expect(await failure('a.npy', npy('>f4', [2, 2], new Uint8Array(16)))).toMatch(/a\.npy is big-endian \(>f4\); convert it with array\.astype\("<f4"\)/);
    expect(await failure('a.npy', npy('<c8', [2, 2], new Uint8Array(32)))).toMatch(/a\.npy has dtype <c8 \(complex numbers\), which is not supported; save the real part/);
    expect(await failure('a.npy', npy('|O', [2], new Uint8Array([0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0x2e])))).toMatch(/has dtype \|O \(an object array, saved with allow_pickle=True\), which is not supported/);
    expect(await failure('a.npy', npy('<U5', [2], new Uint8Array(40)))).toMatch(/has dtype <U5 \(text strings\), which is not supported/);
    expect(await failure('a.npy', npy('<i2', [2], new Uint8Array(4)))).toMatch(/has dtype <i2 \(16-bit integers\).*astype\("int32"\)/);
    expect(await failure('a.npy', npy('', [2], new Uint8Array(16), { dict: "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (2,), }" }))).toMatch(/structured \(record\) array with named fields/);
    expect(await failure('a.npy', npy('<f4', [0, 64], new Uint8Array(0)))).toMatch(/a\.npy has shape \[0, 64\]: it holds no values/);
    expect(await failure('a.npy', npy('<f4', [2], new Uint8Array(8), { dict: "{'descr': '<f4', 'shape': (2,)}" }))).toMatch(/a\.npy: its \.npy header has no 'fortran_order'/);
  });
});

// ---- float decoding ---------------------------------------------------------------------------

describe('decodeFloat32 and decodeInt32', () => {
  it('float16 by hand: subnormals, the largest finite, ±Inf, NaN, -0', () => {
    const cases: [number, number][] = [
      [0x0001, 2 ** -24], // smallest subnormal: 1 · 2^-24
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x3c00, 1], [0xc000, -2], [0x3555, 1365 / 4096], // 0x3555 = 2^-2 · (1 + 341/1024)
      [0x7bff, 65504], // (2 − 2^-10) · 2^15
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x8000, -0], [0x8001, -(2 ** -24)],
    ];
    const out = decodeFloat32(le.u16(cases.map((c) => c[0])), 'float16');
    expect(Array.from(out)).toEqual(cases.map((c) => c[1]));
    const nan = decodeFloat32(le.u16([0x7e00, 0x7c01, 0xfe00]), 'float16');
    expect(Array.from(nan).every(Number.isNaN)).toBe(true);
  });

  it('bfloat16 by hand: the top half of a float32, subnormals and specials included', () => {
    const cases: [number, number][] = [
      [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], // 0x4049 = 2^1 · (1 + 0x49/128)
      [0x0001, 2 ** -133], // float32 bits 0x00010000 = 2^16 · 2^-149
      [0x0080, 2 ** -126], // smallest normal
      [0x7f7f, (2 - 2 ** -7) * 2 ** 127], // largest finite
      [0x7f80, Infinity], [0xff80, -Infinity], [0x8000, -0],
    ];
    expect(Array.from(decodeFloat32(le.u16(cases.map((c) => c[0])), 'bfloat16'))).toEqual(cases.map((c) => c[1]));
    expect(Number.isNaN(decodeFloat32(le.u16([0x7fc0]), 'bfloat16')[0])).toBe(true);
  });

  it('float32 at an unaligned offset, ints, uint8 and bool; a partial value is an error', () => {
    const bytes = concat(new Uint8Array(1), le.f32([1.5, -2.25]));
    expect(Array.from(decodeFloat32(bytes.subarray(1), 'float32'))).toEqual([1.5, -2.25]);
    expect(Array.from(decodeFloat32(le.i32([-3, 4]), 'int32'))).toEqual([-3, 4]);
    expect(Array.from(decodeFloat32(le.i64([-3n, 2n ** 40n]), 'int64'))).toEqual([-3, 2 ** 40]);
    expect(Array.from(decodeFloat32(new Uint8Array([0, 1, 255]), 'uint8'))).toEqual([0, 1, 255]);
    expect(Array.from(decodeFloat32(new Uint8Array([0, 1]), 'bool'))).toEqual([0, 1]);
    expect(() => decodeFloat32(new Uint8Array(6), 'float32')).toThrow(/6 bytes are not a whole number of float32 values/);
  });

  it('decodeInt32: int64 outside the int32 range names the index; floats are refused', () => {
    expect(() => decodeInt32(le.i64([1n, 2n, 2n ** 31n]), 'int64', 'tokens.npy')).toThrow(/tokens\.npy holds int64 value 2147483648 at index 2, outside the int32 range/);
    expect(() => decodeInt32(le.i64([-(2n ** 31n) - 1n]), 'int64', 'ids')).toThrow(/at index 0/);
    expect(() => decodeInt32(le.f32([1]), 'float32', 'tokens.npy')).toThrow(/tokens\.npy holds float32 values; token ids, document ids and positions must be integers/);
    expect(Array.from(decodeInt32(new Uint8Array([3, 200]), 'uint8', 'u'))).toEqual([3, 200]);
  });
});

// ---- .safetensors -----------------------------------------------------------------------------

describe('.safetensors', () => {
  const f32 = [1.5, -2, 0.25, 8, -0.125, 3];
  const file = safetensors([
    ['acts', 'F32', [2, 3], le.f32(f32)],
    ['half', 'F16', [3], le.u16([0x3c00, 0x0001, 0xfc00])],
    ['brain', 'BF16', [2, 2], le.u16([0x3f80, 0x4049, 0x0001, 0xc000])],
    ['tokens', 'I64', [4], le.i64([0n, 50256n, 17n, 2n ** 31n - 1n])],
  ], { format: 'pt', hook_name: 'blocks.3.hook_resid_pre' });

  it('several tensors after __metadata__: names, dtypes, shapes and offsets; values read back', async () => {
    const r = reader(file);
    const idx = await indexArrayFile('acts.safetensors', file.length, r.read);
    expect(idx.format).toBe('safetensors');
    const base = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
    expect(base % 8).toBe(0);
    expect(idx.arrays).toEqual([
      { name: 'acts', dtype: 'float32', shape: [2, 3], offset: base, byteLength: 24 },
      { name: 'half', dtype: 'float16', shape: [3], offset: base + 24, byteLength: 6 },
      { name: 'brain', dtype: 'bfloat16', shape: [2, 2], offset: base + 30, byteLength: 8 },
      { name: 'tokens', dtype: 'int64', shape: [4], offset: base + 38, byteLength: 32 },
    ]);
    expect(r.bytesRead()).toBeLessThanOrEqual(base + 16);
    expect(await floats(idx.arrays[0], file)).toEqual(f32);
    expect(await floats(idx.arrays[1], file)).toEqual([1, 2 ** -24, -Infinity]);
    expect(await floats(idx.arrays[2], file)).toEqual([1, 3.140625, 2 ** -133, -2]);
    expect(Array.from(decodeInt32(await readArrayBytes(idx.arrays[3], reader(file).read), 'int64', 'tokens'))).toEqual([0, 50256, 17, 2 ** 31 - 1]);
  });

  it('says exactly what is wrong with a damaged or unsupported .safetensors', async () => {
    const lenBeyond = file.slice(0, 200);
    expect(await failure('w.safetensors', lenBeyond)).toMatch(/w\.safetensors declares a \d+-byte header but the file is 200 bytes; it is truncated/);
    expect(await failure('w.safetensors', file.slice(0, file.length - 1))).toMatch(/w\.safetensors: tensor "tokens" lies at bytes [\d,]+–[\d,]+ but the file is only [\d,]+ bytes; it is truncated/);
    const broken = safetensors([['a', 'F32', [1], le.f32([1])]]);
    broken[broken.length - 5] = 0x2c; // the header's closing brace (before its padding) becomes a comma
    const text = new TextDecoder().decode(broken.subarray(8, broken.length - 4));
    expect(text.trimEnd().endsWith(',')).toBe(true);
    expect(await failure('w.safetensors', broken)).toMatch(/w\.safetensors has a header that is not valid JSON \(.+\); the file is damaged/);
    expect(await failure('w.safetensors', safetensors([['a', 'F8_E4M3', [4], new Uint8Array(4)]]))).toMatch(/tensor "a" has dtype F8_E4M3, which is not supported/);
    expect(await failure('w.safetensors', safetensors([['a', 'F32', [3], le.f32([1, 2])]]))).toMatch(/tensor "a" \[3\] F32 needs 12 bytes but its data_offsets span 8/);
    expect(await failure('w.safetensors', safetensors([['a', 'F32', [0, 4], new Uint8Array(0)]]))).toMatch(/tensor "a" has shape \[0, 4\]: it holds no values/);
    expect(await failure('w.safetensors', safetensors([], { only: 'metadata' }))).toMatch(/holds no tensors/);
    expect(await failure('w.safetensors', new Uint8Array(20))).toMatch(/w\.safetensors is not a valid \.safetensors file/);
  });
});

// ---- .npz -------------------------------------------------------------------------------------

/** Where an entry's data starts, by reading its local header (independently of the index). */
function localDataStart(zip: Uint8Array, entryName: string): number {
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  for (let p = 0; p + 30 < zip.length; p++) {
    if (dv.getUint32(p, true) !== 0x04034b50) continue;
    const nameLen = dv.getUint16(p + 26, true), extraLen = dv.getUint16(p + 28, true);
    if (new TextDecoder().decode(zip.subarray(p + 30, p + 30 + nameLen)) === entryName) return p + 30 + nameLen + extraLen;
  }
  throw new Error(`no local header for ${entryName}`);
}

describe('.npz', () => {
  const acts = range(6 * 5, (i) => Math.sin(i) * 4);
  const tokens = [3, 1, 4, 1, 5, 9];
  const entries = () => ({ 'acts.npy': npy('<f4', [6, 5], le.f32(acts)), 'tokens.npy': npy('<i8', [6], le.i64(tokens.map(BigInt))) });

  it('np.savez-style stored entries: offset = local header + 30 + name + extra + npy header', async () => {
    const zip = npz(entries(), 0);
    const idx = await index('run.npz', zip);
    expect(idx.format).toBe('npz');
    expect(idx.arrays.map((a) => [a.name, a.dtype, a.shape, a.compressed])).toEqual([['acts', 'float32', [6, 5], undefined], ['tokens', 'int64', [6], undefined]]);
    expect(idx.arrays[0].offset).toBe(localDataStart(zip, 'acts.npy') + 128);
    expect(idx.arrays[1].offset).toBe(localDataStart(zip, 'tokens.npy') + 128);
    expect(await floats(idx.arrays[0], zip)).toEqual(fround(acts));
    expect(Array.from(decodeInt32(await readArrayBytes(idx.arrays[1], reader(zip).read), 'int64', 'tokens'))).toEqual(tokens);
  });

  it('np.savez_compressed-style deflated entries: offset inside the inflated entry; the header needs only the first compressed bytes', async () => {
    const big = range(64 * 256, (i) => Math.fround(Math.cos(i * 0.37) * i));
    const zip = npz({ ...entries(), 'big.npy': npy('<f4', [256, 64], le.f32(big)) }, 6);
    const r = reader(zip);
    const idx = await indexArrayFile('run.npz', zip.length, r.read);
    const bigLayout = idx.arrays.find((a) => a.name === 'big')!;
    expect(bigLayout).toMatchObject({ dtype: 'float32', shape: [256, 64], offset: 128, byteLength: 65536 });
    expect(bigLayout.compressed!.offset).toBe(localDataStart(zip, 'big.npy'));
    expect(bigLayout.compressed!.size).toBeGreaterThan(20_000);
    expect(r.bytesRead()).toBeLessThan(8_000);
    expect(await floats(bigLayout, zip)).toEqual(big);
    expect(await floats(idx.arrays[0], zip)).toEqual(fround(acts));
    expect(Array.from(decodeInt32(await readArrayBytes(idx.arrays[1], reader(zip).read), 'int64', 'tokens'))).toEqual(tokens);
  });

  it('says what is wrong with a damaged .npz', async () => {
    const zip = npz(entries(), 0);
    expect(await failure('run.npz', zip.slice(0, Math.floor(zip.length / 2)))).toMatch(/run\.npz is a truncated or damaged zip archive \(no end-of-archive record/);
    expect(await failure('run.npz', npz({ 'acts.npy': entries()['acts.npy'], 'notes.txt': new TextEncoder().encode('hello') }, 0))).toMatch(/run\.npz holds "notes\.txt", which is not an \.npy array/);
    expect(await failure('run.npz', npz({ 'acts.npy': new TextEncoder().encode('not an array at all') }, 0))).toMatch(/run\.npz: acts is not a NumPy \.npy array/);
    const cut = npz({ 'acts.npy': entries()['acts.npy'].slice(0, 164) }, 6);
    expect(await failure('run.npz', cut)).toMatch(/run\.npz: acts is truncated: its header declares shape \[6, 5\] float32 = 120 bytes of data but only 36 are present/);
    const bad = npz({ 'acts.npy': entries()['acts.npy'] }, 6);
    bad.fill(0xff, localDataStart(bad, 'acts.npy'), localDataStart(bad, 'acts.npy') + 8);
    expect(await failure('run.npz', bad)).toMatch(/run\.npz: acts: the compressed data is damaged/);
    expect(await failure('run.npz', npz({}, 0))).toMatch(/run\.npz is an empty zip archive/);
  });
});

// ---- zip64 ------------------------------------------------------------------------------------

/** CRC-32 (IEEE), as zip stores it. */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) { c ^= b; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
  return ~c >>> 0;
}

/**
 * A zip64 archive of stored entries, laid out as Python's zipfile writes ones over 4 GiB: local
 * headers and central records with 0xffffffff sizes/offsets and a zip64 extra field, a zip64
 * end-of-archive record and locator, and an end record of 0xffff / 0xffffffff. Entries are
 * [name, header bytes, data length] (data bytes are zero; CRCs are of the header only, the index does not read them).
 */
function zip64(entries: [string, Uint8Array, number][]): { size: number; segments: { at: number; bytes: Uint8Array }[] } {
  const segments: { at: number; bytes: Uint8Array }[] = [];
  const central: Uint8Array[] = [];
  let at = 0;
  for (const [name, head, dataLength] of entries) {
    const nameBytes = new TextEncoder().encode(name);
    const size = head.length + dataLength;
    const local = new Uint8Array(30 + nameBytes.length + 20);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 45, true); lv.setUint16(8, 0, true);
    lv.setUint32(14, crc32(head), true); lv.setUint32(18, 0xffffffff, true); lv.setUint32(22, 0xffffffff, true);
    lv.setUint16(26, nameBytes.length, true); lv.setUint16(28, 20, true);
    local.set(nameBytes, 30);
    lv.setUint16(30 + nameBytes.length, 0x0001, true); lv.setUint16(32 + nameBytes.length, 16, true);
    lv.setBigUint64(34 + nameBytes.length, BigInt(size), true); lv.setBigUint64(42 + nameBytes.length, BigInt(size), true);
    segments.push({ at, bytes: local }, { at: at + local.length, bytes: head });
    const cen = new Uint8Array(46 + nameBytes.length + 28);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 45, true); cv.setUint16(6, 45, true);
    cv.setUint32(16, crc32(head), true); cv.setUint32(20, 0xffffffff, true); cv.setUint32(24, 0xffffffff, true);
    cv.setUint16(28, nameBytes.length, true); cv.setUint16(30, 28, true); cv.setUint32(42, 0xffffffff, true);
    cen.set(nameBytes, 46);
    const x = 46 + nameBytes.length;
    cv.setUint16(x, 0x0001, true); cv.setUint16(x + 2, 24, true);
    cv.setBigUint64(x + 4, BigInt(size), true); cv.setBigUint64(x + 12, BigInt(size), true); cv.setBigUint64(x + 20, BigInt(at), true);
    central.push(cen);
    at += local.length + size;
  }
  const cd = concat(...central);
  const cdOffset = at;
  const tail = new Uint8Array(56 + 20 + 22);
  const tv = new DataView(tail.buffer);
  tv.setUint32(0, 0x06064b50, true); tv.setBigUint64(4, 44n, true); tv.setUint16(12, 45, true); tv.setUint16(14, 45, true);
  tv.setBigUint64(24, BigInt(entries.length), true); tv.setBigUint64(32, BigInt(entries.length), true);
  tv.setBigUint64(40, BigInt(cd.length), true); tv.setBigUint64(48, BigInt(cdOffset), true);
  tv.setUint32(56, 0x07064b50, true); tv.setBigUint64(64, BigInt(cdOffset + cd.length), true); tv.setUint32(72, 1, true);
  tv.setUint32(76, 0x06054b50, true); tv.setUint16(84, 0xffff, true); tv.setUint16(86, 0xffff, true);
  tv.setUint32(88, 0xffffffff, true); tv.setUint32(92, 0xffffffff, true);
  segments.push({ at: cdOffset, bytes: cd }, { at: cdOffset + cd.length, bytes: tail });
  return { size: cdOffset + cd.length + tail.length, segments };
}

describe('zip64 .npz', () => {
  it('an entry over 4 GiB and one after it at an offset over 4 GiB, read from the zip64 fields', async () => {
    const N = 1_179_648, d = 1024; // N·d float32 = 4.5 GiB
    const bigHead = npy('<f4', [N, d], new Uint8Array(0));
    const tokens = npy('<i4', [3], le.i32([11, 22, 33]));
    const { size, segments } = zip64([['acts.npy', bigHead, N * d * 4], ['tokens.npy', tokens, 0]]);
    const read = sparseReader(size, segments);
    const idx = await indexArrayFile('big.npz', size, read);
    const actsAt = 30 + 'acts.npy'.length + 20;
    expect(idx.arrays[0]).toEqual({ name: 'acts', dtype: 'float32', shape: [N, d], offset: actsAt + 128, byteLength: N * d * 4 });
    const tokensAt = actsAt + 128 + N * d * 4 + 30 + 'tokens.npy'.length + 20 + 128;
    expect(tokensAt).toBeGreaterThan(2 ** 32);
    expect(idx.arrays[1]).toEqual({ name: 'tokens', dtype: 'int32', shape: [3], offset: tokensAt, byteLength: 12 });
    expect(Array.from(decodeInt32(await readArrayBytes(idx.arrays[1], read), 'int32', 'tokens'))).toEqual([11, 22, 33]);
  });

  it('small zip64 archives (as zipfile writes with force_zip64) read the same', async () => {
    const acts = npy('<f4', [2, 2], le.f32([1, 2, 3, 4]));
    const { size, segments } = zip64([['acts.npy', acts, 0]]);
    const file = new Uint8Array(size);
    for (const s of segments) file.set(s.bytes, s.at);
    const idx = await index('small.npz', file);
    expect(idx.arrays[0]).toMatchObject({ name: 'acts', shape: [2, 2], offset: 30 + 8 + 20 + 128 });
    expect(await floats(idx.arrays[0], file)).toEqual([1, 2, 3, 4]);
  });
});

// ---- raw --------------------------------------------------------------------------------------

describe('raw float files', () => {
  it('need a shape; with one that fits, the data starts at 0', async () => {
    const data = le.f32(range(8 * 64, (i) => i / 7));
    try {
      await index('acts.f32', data);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(NeedsShapeError);
      expect((e as NeedsShapeError).bytes).toBe(2048);
      expect((e as Error).message).toMatch(/acts\.f32 is raw binary data \(2,048 bytes\) with no header: give its shape/);
    }
    const idx = await index('acts.f32', data, { rawShape: [8, 64] });
    expect(idx).toEqual({ format: 'raw', arrays: [{ name: 'acts.f32', dtype: 'float32', shape: [8, 64], offset: 0, byteLength: 2048 }] });
    expect(await floats(idx.arrays[0], data)).toEqual(fround(range(8 * 64, (i) => i / 7)));
    const half = await index('acts.bin', new Uint8Array(2 * 3 * 4 * 2), { rawShape: [2, 3, 4], rawDtype: 'float16' });
    expect(half.arrays[0]).toMatchObject({ dtype: 'float16', shape: [2, 3, 4], byteLength: 48 });
    expect((await index('acts.f16', new Uint8Array(2 * 3 * 2), { rawShape: [2, 3] })).arrays[0].dtype).toBe('float16'); // the default for .f16
    await expect(index('acts.f16', new Uint8Array(12))).rejects.toBeInstanceOf(NeedsShapeError);
    // Any other unknown file is raw once a shape is given.
    expect((await index('acts.dat', data, { rawShape: [16, 32] })).format).toBe('raw');
  });

  it('a wrong shape gets the byte size, the value count, and shapes that would fit', async () => {
    const data = new Uint8Array(4 * 768 * 10);
    expect(await failure('acts.f32', data, { rawShape: [10, 64] })).toMatch(
      /acts\.f32 has 30,720 bytes but shape \[10, 64\] float32 needs 2,560 \(640 values × 4 bytes\)\. It holds 7,680 float32 values: with d = 64 that is N × 64 with N = 120\./,
    );
    const msg = await failure('acts.f32', data, { rawShape: [10, 100] });
    expect(msg).toMatch(/It holds 7,680 float32 values, not a multiple of one row \(d = 100 values\)/);
    expect(msg).toMatch(/Shapes that would fit: N × 128 would need N = 60; N × 64 would need N = 120; N × 256 would need N = 30\./);
    expect(await failure('acts.f32', new Uint8Array(30_721), { rawShape: [10, 768] })).toMatch(/30,721 bytes is not a whole number of float32 values \(4 bytes each\)/);
    expect(await failure('acts.f32', data, { rawShape: [3, 10, 100] })).toMatch(/not a multiple of one row \(L × d = 3 × 100 = 300 values\).*3 × N × 128 would need N = 20/);
    expect(await failure('acts.f32', data, { rawShape: [0, 768] })).toMatch(/has shape \[0, 768\]: it holds no values/);
    expect(await failure('acts.f32', data, { rawShape: [7680] })).toMatch(/must be N × d or L × N × d/);
  });

  it('unknown files without a shape, empty files', async () => {
    expect(await failure('notes.txt', new TextEncoder().encode('hello world, not an array'))).toMatch(/notes\.txt: unknown file type; activations can be \.npy, \.npz, \.safetensors, or raw float32/);
    expect(await failure('a.npy', new Uint8Array(0))).toMatch(/a\.npy is empty \(0 bytes\)/);
    expect(await failure('a.npz', new TextEncoder().encode('definitely not a zip'))).toMatch(/a\.npz is not a zip archive/);
  });
});

// ---- roles ------------------------------------------------------------------------------------

describe('arrayRole', () => {
  const role = (name: string, dtype: ArrayLayout['dtype'], shape: number[], values?: number[]) => arrayRole({ name, dtype, shape }, values && Int32Array.from(values));

  it('activations, labels and other by dtype and shape', () => {
    expect(role('x', 'float32', [100, 64])).toBe('activations');
    expect(role('x', 'float16', [4, 100, 64])).toBe('activations');
    expect(role('x', 'bfloat16', [1, 64])).toBe('activations'); // one row: the loader explains
    expect(role('x', 'float32', [100])).toBe('labels');
    expect(role('x', 'float64', [100, 1])).toBe('labels');
    expect(role('labels', 'float32', [1, 100])).toBe('labels');
    expect(role('x', 'bool', [100])).toBe('labels');
    // Ids saved as floats keep their role, so that decoding them explains they must be integers.
    expect(role('tokens', 'float32', [100])).toBe('tokens');
    expect(role('doc_ids', 'float64', [100])).toBe('doc_ids');
    expect(role('positions', 'float32', [100])).toBe('positions');
    expect(role('positive_label', 'float32', [100])).toBe('labels');
    expect(role('x', 'float32', [2, 3, 4, 5])).toBe('other');
    expect(role('x', 'bool', [3, 3])).toBe('other');
    expect(role('x', 'int32', [10, 10, 10])).toBe('other');
    expect(role('x', 'int32', [])).toBe('other');
  });

  it('integer 1-D arrays by content: positions, document ids, token ids', () => {
    expect(role('a', 'int32', [9], [0, 1, 2, 3, 0, 1, 2, 0, 1])).toBe('positions');
    expect(role('a', 'int32', [9], [1, 2, 3, 4, 1, 2, 3, 1, 2])).toBe('positions'); // BOS dropped
    expect(role('a', 'int64', [9], [57, 58, 59, 0, 1, 2, 3, 4, 5])).toBe('positions'); // a slice starting mid-document
    expect(role('a', 'int32', [9], [0, 0, 0, 1, 1, 2, 2, 2, 2])).toBe('doc_ids');
    expect(role('a', 'int32', [9], [5, 5, 5, 6, 6, 6, 8, 8, 8])).toBe('doc_ids');
    expect(role('a', 'int32', [9], [464, 3290, 13, 262, 3797, 13, 50256, 11, 11])).toBe('tokens');
    expect(role('a', 'uint8', [6], [3, 9, 1, 200, 4, 4])).toBe('tokens');
  });

  it('[L, N] per-layer copies are read from the first row; [1, N] and [N, 1] are 1-D', () => {
    expect(role('a', 'int32', [2, 4], [0, 1, 2, 3, 0, 1, 2, 3])).toBe('positions');
    expect(role('a', 'int32', [1, 4], [0, 0, 1, 1])).toBe('doc_ids');
    expect(role('a', 'int64', [4, 1], [9, 4, 7, 1])).toBe('tokens');
  });

  it('names decide only when the content is ambiguous', () => {
    expect(role('doc_ids', 'int32', [5], [0, 1, 2, 3, 4])).toBe('doc_ids'); // one-token documents
    expect(role('positions', 'int32', [5], [0, 1, 2, 3, 4])).toBe('positions');
    expect(role('x', 'int32', [5], [0, 1, 2, 3, 4])).toBe('positions');
    expect(role('label', 'int64', [5], [0, 1, 1, 0, 1])).toBe('labels');
    expect(role('tokens', 'int64', [5], [0, 1, 1, 0, 1])).toBe('tokens');
    expect(role('doc', 'int32', [4], [0, 1, 1, 2])).toBe('doc_ids'); // non-decreasing, few repeats
    expect(role('doc', 'int32', [4], [3, 1, 2, 0])).toBe('tokens'); // a name cannot overrule the content
    expect(role('my_doc_ids', 'int32', [1])).toBe('doc_ids');
    expect(role('pos', 'int32', [1])).toBe('positions');
    expect(role('ids', 'int32', [1])).toBe('tokens');
  });
});
