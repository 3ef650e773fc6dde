import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NpyError, checkFinite, float16ToFloat32, parseNpy, toFloat32Matrix, writeNpy } from './npy';

const SHARED = path.resolve(__dirname, '../../../shared/data/stories260k');
const hasShared = existsSync(path.join(SHARED, 'train/resid_l3.npy'));
if (!hasShared) console.warn(`[npy.test] skipping real-data checks: ${SHARED} is absent (it exists only beside the project in CI)`);

/** A .npy built byte by byte, independently of writeNpy. */
function handMade(descr: string, shape: string, payload: Uint8Array, opts: { version?: number; fortran?: boolean } = {}): ArrayBuffer {
  const version = opts.version ?? 1;
  const pre = version === 1 ? 10 : 12;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(pre + header.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(payload, pre + header.length);
  return out.buffer;
}

const f32 = (vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

describe('parseNpy', () => {
  it('reads float32 [2, 3] in C order', () => {
    const a = parseNpy(handMade('<f4', '(2, 3)', f32([1, 2, 3, 4, 5, 6.5])), 'a.npy');
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe('float32');
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
  });

  it('reads format version 2.0 headers', () => {
    const a = parseNpy(handMade('<f4', '(1, 2)', f32([7, -8]), { version: 2 }));
    expect(Array.from(a.data)).toEqual([7, -8]);
  });

  it('decodes float16 exactly, including subnormals, infinities and NaN', () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x3555 ≈ 0.33325, 0x0001 = 2^-24 (smallest subnormal), 0x7c00 = +Inf, 0x7e00 = NaN
    const halves = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0x7e00]);
    const a = parseNpy(handMade('<f2', '(2, 3)', new Uint8Array(halves.buffer)));
    expect(a.dtype).toBe('float16');
    const d = Array.from(a.data);
    expect(d.slice(0, 2)).toEqual([1, -2]);
    expect(d[2]).toBeCloseTo(0.333251953125, 10);
    expect(d[3]).toBe(2 ** -24);
    expect(d[4]).toBe(Infinity);
    expect(Number.isNaN(d[5])).toBe(true);
    expect(float16ToFloat32(0x8000)).toBe(-0);
  });

  it('reads float64 and int32, and int64 within the int32 range', () => {
    expect(Array.from(parseNpy(handMade('<f8', '(2,)', new Uint8Array(new Float64Array([0.1, 2]).buffer))).data)).toEqual([0.1, 2]);
    expect(Array.from(parseNpy(handMade('<i4', '(3,)', new Uint8Array(new Int32Array([1, -5, 9]).buffer))).data)).toEqual([1, -5, 9]);
    const a = parseNpy(handMade('<i8', '(2,)', new Uint8Array(new BigInt64Array([3n, -4n]).buffer)));
    expect(a.data).toBeInstanceOf(Int32Array);
    expect(Array.from(a.data)).toEqual([3, -4]);
  });

  it('rejects bad input with a message that names the file, the problem and the fix', () => {
    const cases: [ArrayBuffer, RegExp][] = [
      [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).buffer, /x\.npy is not a NumPy \.npy file.*numpy\.save/],
      [handMade('<f4', '(1000, 64)', f32([1, 2, 3])), /truncated.*\[1000, 64\] float32 = 256000 bytes.*only 12/],
      [handMade('<f4', '(2, 2)', f32([1, 2, 3, 4]), { fortran: true }), /Fortran.*ascontiguousarray/],
      [handMade('>f4', '(1, 1)', f32([1])), /big-endian.*astype\("<f4"\)/],
      [handMade('<c8', '(1,)', new Uint8Array(8)), /dtype <c8.*not supported/],
      [handMade('<U4', '(1,)', new Uint8Array(16)), /dtype <U4/],
      [handMade('<f4', '(70000, 70000)', f32([1])), /more than this app can hold/],
    ];
    for (const [buf, re] of cases) {
      expect(() => parseNpy(buf, 'x.npy')).toThrow(NpyError);
      expect(() => parseNpy(buf, 'x.npy')).toThrow(re);
    }
    const malformed = handMade('<f4', '(1, 1)', f32([1]));
    new Uint8Array(malformed).set(new TextEncoder().encode('{garbage'), 10);
    expect(() => parseNpy(malformed, 'x.npy')).toThrow(/malformed .npy header/);
  });
});

describe('toFloat32Matrix', () => {
  it('accepts [N, d] floats and converts float64', () => {
    const m = toFloat32Matrix(parseNpy(handMade('<f8', '(2, 2)', new Uint8Array(new Float64Array([1, 2, 3, 4]).buffer))));
    expect(m).toMatchObject({ rows: 2, cols: 2 });
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4]);
  });
  it('rejects other ranks, dtypes and empty arrays', () => {
    expect(() => toFloat32Matrix(parseNpy(handMade('<f4', '(4,)', f32([1, 2, 3, 4]))), 'v.npy')).toThrow(/shape \[4\].*2-D \[N, d\].*reshape/);
    expect(() => toFloat32Matrix(parseNpy(handMade('<f4', '(1, 2, 2)', f32([1, 2, 3, 4]))), 'v.npy')).toThrow(/\[1, 2, 2\]/);
    expect(() => toFloat32Matrix(parseNpy(handMade('<i4', '(1, 2)', new Uint8Array(8))), 'v.npy')).toThrow(/int32 values, not activations/);
    expect(() => toFloat32Matrix(parseNpy(handMade('<f4', '(0, 3)', new Uint8Array(0))), 'v.npy')).toThrow(/holds no activations/);
  });
});

describe('writeNpy and checkFinite', () => {
  it('writes a format 1.0 file with a 64-byte aligned header that parseNpy reads back', () => {
    const data = new Float32Array([1.5, -2, 3, 4, 5, 6]);
    const bytes = writeNpy(data, [3, 2]);
    const headerLen = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(bytes[10 + headerLen - 1]).toBe(0x0a);
    const back = parseNpy(bytes.buffer as ArrayBuffer);
    expect(back.shape).toEqual([3, 2]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });
  it('counts rows with NaN or Inf', () => {
    expect(checkFinite(new Float32Array([1, 2, NaN, 4, 5, Infinity, 7, 8]), 2)).toEqual({ badRows: 2, firstBadRow: 1 });
    expect(checkFinite(new Float32Array([1, 2]), 2)).toEqual({ badRows: 0, firstBadRow: -1 });
  });
});

describe.skipIf(!hasShared)('real activations in ../shared/data', () => {
  it('parses resid_l3.npy with the statistics of stats.json', () => {
    const buf = readFileSync(path.join(SHARED, 'train/resid_l3.npy'));
    const m = toFloat32Matrix(parseNpy(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer));
    expect([m.rows, m.cols]).toEqual([35234, 64]);
    let sum = 0, norm = 0;
    for (let r = 0; r < m.rows; r++) {
      let sq = 0;
      for (let j = 0; j < 64; j++) { const v = m.data[r * 64 + j]; sum += v; sq += v * v; }
      norm += Math.sqrt(sq);
    }
    expect(sum / (m.rows * 64)).toBeCloseTo(-0.0372525, 4);
    expect(norm / m.rows).toBeCloseTo(6.800355, 3);
    const tok = readFileSync(path.join(SHARED, 'train/tokens.npy'));
    const t = parseNpy(tok.buffer.slice(tok.byteOffset, tok.byteOffset + tok.length) as ArrayBuffer);
    expect(t.dtype).toBe('int32');
    expect(t.shape).toEqual([35234]);
  });
});
