// NumPy .npy reader/writer (format versions 1.0, 2.0, 3.0; little-endian; C order). Every failure
// is an NpyError whose message names the file, what is wrong, and how to fix it.

export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

export type NpyDtype = 'float32' | 'float16' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

export interface NpyArray {
  shape: number[];
  dtype: NpyDtype;
  /** float16 is decoded to float32, int64 to int32; bool to uint8. */
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_ELEMENTS = 2 ** 31 - 1;

const DESCR: Record<string, { dtype: NpyDtype; bytes: number }> = {
  '<f4': { dtype: 'float32', bytes: 4 },
  '<f2': { dtype: 'float16', bytes: 2 },
  '<f8': { dtype: 'float64', bytes: 8 },
  '<i4': { dtype: 'int32', bytes: 4 },
  '<i8': { dtype: 'int64', bytes: 8 },
  '|u1': { dtype: 'uint8', bytes: 1 },
  '|b1': { dtype: 'bool', bytes: 1 },
};

/** Decode an IEEE 754 half-precision value (incl. subnormals, ±Inf, NaN). */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export interface NpyHeader {
  descr: string;
  fortran: boolean;
  shape: number[];
  dataOffset: number;
}

/** The header of an .npy file from its first bytes (the whole file is not needed). */
export function parseNpyHeader(bytes: Uint8Array, name: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError(`${name} is not a NumPy .npy file (it does not start with \\x93NUMPY). Save the array with numpy.save("${name}", array).`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) { headerLen = view.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyError(`${name} is truncated inside its header; re-save or re-copy the file.`);
    headerLen = view.getUint32(8, true); start = 12;
  } else throw new NpyError(`${name} uses .npy format version ${major}.${bytes[7]}, which this app does not read; save it with numpy.save (format 1.0–3.0).`);
  if (headerLen > 1 << 20) throw new NpyError(`${name} declares a ${headerLen}-byte header, which is not plausible for an .npy file; the file is damaged.`);
  if (start + headerLen > bytes.length) throw new NpyError(`${name} is truncated inside its header (${bytes.length} bytes in all); re-save or re-copy the file.`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${name} has a malformed .npy header (${JSON.stringify(text.trim().slice(0, 120))}); re-save it with numpy.save.`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const n = Number(s.replace(/L$/, ''));
    if (!Number.isInteger(n) || n < 0) throw new NpyError(`${name} has an invalid shape (${shapeText}) in its header; re-save it with numpy.save.`);
    return n;
  });
  return { descr, fortran: fortran === 'True', shape, dataOffset: start + headerLen };
}

export function parseNpy(buffer: ArrayBuffer, name = 'the file'): NpyArray {
  const bytes = new Uint8Array(buffer);
  const h = parseNpyHeader(bytes, name);
  if (h.fortran) throw new NpyError(`${name} is stored in Fortran (column-major) order; save np.ascontiguousarray(array) instead.`);
  if (h.descr.startsWith('>')) throw new NpyError(`${name} is big-endian (${h.descr}); convert it with array.astype("<${h.descr.slice(1)}") before saving.`);
  const kind = DESCR[h.descr] ?? DESCR[h.descr.replace(/^=/, '<')];
  if (!kind) throw new NpyError(`${name} has dtype ${h.descr}, which is not supported; save activations as float32 (array.astype("float32")).`);
  const count = h.shape.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) throw new NpyError(`${name} declares shape [${h.shape.join(', ')}] = ${count.toExponential(2)} elements, more than this app can hold in memory; save a subset of rows.`);
  const needed = count * kind.bytes;
  const available = bytes.length - h.dataOffset;
  if (available < needed) {
    throw new NpyError(`${name} is truncated: the header declares shape [${h.shape.join(', ')}] ${kind.dtype} = ${needed} bytes of data but only ${available} are present; re-save or re-copy the file.`);
  }
  const off = bytes.byteOffset + h.dataOffset;
  // Typed-array views need an aligned offset; copy the payload when it is not aligned.
  const typed = <T>(Ctor: new (b: ArrayBuffer, o?: number, n?: number) => T, size: number): T =>
    off % size === 0 ? new Ctor(buffer, off, count) : new Ctor(buffer.slice(off, off + needed), 0, count);
  switch (kind.dtype) {
    case 'float32': return { shape: h.shape, dtype: 'float32', data: typed(Float32Array, 4) };
    case 'float64': return { shape: h.shape, dtype: 'float64', data: typed(Float64Array, 8) };
    case 'int32': return { shape: h.shape, dtype: 'int32', data: typed(Int32Array, 4) };
    case 'uint8': case 'bool': return { shape: h.shape, dtype: kind.dtype, data: new Uint8Array(buffer, off, count) };
    case 'float16': {
      const view = new DataView(buffer, off, needed);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = float16ToFloat32(view.getUint16(2 * i, true));
      return { shape: h.shape, dtype: 'float16', data: out };
    }
    case 'int64': {
      const view = new DataView(buffer, off, needed);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new NpyError(`${name} holds int64 value ${v} at index ${i}, outside the int32 range this app uses; save as int32.`);
        out[i] = Number(v);
      }
      return { shape: h.shape, dtype: 'int64', data: out };
    }
  }
}

/** An activation matrix [rows, cols] as float32, from a float32/float16/float64 .npy array. */
export function toFloat32Matrix(arr: NpyArray, name = 'the file'): { rows: number; cols: number; data: Float32Array } {
  if (arr.dtype !== 'float32' && arr.dtype !== 'float16' && arr.dtype !== 'float64') {
    throw new NpyError(`${name} holds ${arr.dtype} values, not activations; save activations as float32.`);
  }
  if (arr.shape.length !== 2) {
    throw new NpyError(`${name} has shape [${arr.shape.join(', ')}]; activations must be 2-D [N, d] (one row per token). Reshape with array.reshape(-1, d).`);
  }
  const [rows, cols] = arr.shape;
  if (rows === 0 || cols === 0) throw new NpyError(`${name} has shape [${rows}, ${cols}] and holds no activations.`);
  const data = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data as Float64Array);
  return { rows, cols, data };
}

/** Rows [cols wide] that contain NaN or ±Inf. */
export function checkFinite(data: Float32Array, cols: number): { badRows: number; firstBadRow: number } {
  let badRows = 0;
  let firstBadRow = -1;
  const rows = data.length / cols;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      if (!Number.isFinite(data[r * cols + j])) {
        if (firstBadRow < 0) firstBadRow = r;
        badRows++;
        break;
      }
    }
  }
  return { badRows, firstBadRow };
}

/** A format 1.0 .npy file of a float32 or int32 array (header padded to 64 bytes). */
export function writeNpy(data: Float32Array | Int32Array, shape: number[]): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : '<i4';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
