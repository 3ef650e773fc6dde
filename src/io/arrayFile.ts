// Where the arrays of an activation file are, read from its headers only: .npy, .npz (a zip of
// .npy entries, stored or deflated), .safetensors, or raw float data with a shape the user gives.
// Nothing here reads a whole file: big files are then streamed by byte ranges. Every failure is
// an ArrayFileError naming the file, what is wrong, and how to fix it.
import { inflateSync } from 'fflate';
import { NpyError, float16ToFloat32, parseNpyHeader } from './npy';

export type ArrayDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

export interface ArrayLayout {
  /** npz entry name without .npy, safetensors tensor name, or the file name. */
  name: string;
  dtype: ArrayDtype;
  shape: number[];
  /** Byte offset of the C-order little-endian data in the file (in the inflated entry if compressed). */
  offset: number;
  byteLength: number;
  /** A deflated npz entry: where its compressed bytes are in the file. */
  compressed?: { offset: number; size: number };
}

export interface FileIndex {
  format: 'npy' | 'npz' | 'safetensors' | 'raw';
  arrays: ArrayLayout[];
}

/** Bytes [start, end) of the file. */
export type ReadRange = (start: number, end: number) => Promise<Uint8Array>;

export class ArrayFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArrayFileError';
  }
}

/** A raw file was given without its shape. */
export class NeedsShapeError extends ArrayFileError {
  constructor(name: string, readonly bytes: number) {
    super(`${name} is raw binary data (${bytes.toLocaleString('en-US')} bytes) with no header: give its shape (N × d, or L × N × d) and dtype.`);
    this.name = 'NeedsShapeError';
  }
}

export const DTYPE_BYTES: Record<ArrayDtype, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1 };

const NPY_DESCR: Record<string, ArrayDtype> = { '<f4': 'float32', '<f2': 'float16', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64', '|u1': 'uint8', '|b1': 'bool', '|i1': 'uint8' };
const ST_DTYPE: Record<string, ArrayDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I32: 'int32', I64: 'int64', U8: 'uint8', BOOL: 'bool' };
const RAW_EXTENSIONS = ['.f32', '.bin', '.raw', '.f16', '.dat'];

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const n = (v: number) => v.toLocaleString('en-US');

export async function indexArrayFile(name: string, size: number, read: ReadRange, options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' }): Promise<FileIndex> {
  if (options?.rawShape) return { format: 'raw', arrays: [rawLayout(name, size, options.rawShape, options.rawDtype ?? 'float32')] };
  if (size === 0) throw new ArrayFileError(`${name} is empty (0 bytes); re-save or re-copy it.`);
  const head = await read(0, Math.min(size, 65_536));
  if (head[0] === 0x93 && head[1] === 0x4e && head[2] === 0x55) return { format: 'npy', arrays: [npyLayout(name, head, size, 0, name)] };
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05)) return { format: 'npz', arrays: await npzLayouts(name, size, read) };
  if (looksLikeSafetensors(head)) return { format: 'safetensors', arrays: await safetensorsLayouts(name, size, read, head) };
  const lower = name.toLowerCase();
  if (RAW_EXTENSIONS.some((e) => lower.endsWith(e))) throw new NeedsShapeError(name, size);
  if (lower.endsWith('.npy')) throw new ArrayFileError(`${name} is not a NumPy .npy file (it does not start with \\x93NUMPY). Save the array with numpy.save("${name}", array).`);
  if (lower.endsWith('.safetensors')) throw new ArrayFileError(`${name} is not a valid .safetensors file (its first 8 bytes do not give a plausible header length followed by a JSON header); it is damaged or truncated.`);
  if (lower.endsWith('.npz')) throw new ArrayFileError(`${name} is not a zip archive (an .npz is written by numpy.savez); re-save it.`);
  throw new ArrayFileError(`${name}: unknown file type; activations can be .npy, .npz, .safetensors, or raw float32 (.f32/.bin) with a shape.`);
}

function npyLayout(fileName: string, head: Uint8Array, fileSize: number, base: number, arrayName: string): ArrayLayout {
  let h;
  try {
    h = parseNpyHeader(head, fileName);
  } catch (e) {
    if (e instanceof NpyError) {
      // The header reader only sees the first bytes; a header longer than the whole file is damage.
      if (/truncated inside its header/.test(e.message)) throw new ArrayFileError(`${fileName}: the .npy header runs past the end of the file (${n(fileSize)} bytes); the file is truncated or damaged. Re-save or re-copy it.`);
      throw new ArrayFileError(e.message);
    }
    throw e;
  }
  const where = arrayName === fileName ? fileName : `${fileName}: ${arrayName}`;
  if (h.fortran) throw new ArrayFileError(`${where} is stored in Fortran (column-major) order; save np.ascontiguousarray(array) instead.`);
  if (h.descr.startsWith('>')) throw new ArrayFileError(`${where} is big-endian (${h.descr}); convert it with array.astype("<${h.descr.slice(1)}") before saving.`);
  if (h.descr.includes('O')) throw new ArrayFileError(`${where} is an object array (saved with allow_pickle); save a numeric array such as array.astype("float32").`);
  const dtype = NPY_DESCR[h.descr] ?? NPY_DESCR[h.descr.replace(/^=/, '<')];
  if (!dtype) throw new ArrayFileError(`${where} has dtype ${h.descr}, which is not supported; save activations as float32 (array.astype("float32")) and ids as int32.`);
  const byteLength = product(h.shape) * DTYPE_BYTES[dtype];
  const offset = base + h.dataOffset;
  if (offset + byteLength > fileSize) {
    throw new ArrayFileError(`${where} is truncated: the header declares shape [${h.shape.join(', ')}] ${dtype} = ${n(byteLength)} bytes of data but only ${n(Math.max(0, fileSize - offset))} are present; re-save or re-copy the file.`);
  }
  return { name: arrayName, dtype, shape: h.shape, offset, byteLength };
}

function rawLayout(name: string, size: number, shape: number[], dtype: 'float32' | 'float16'): ArrayLayout {
  if (shape.length < 2 || shape.length > 3 || shape.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new ArrayFileError(`${name}: the shape [${shape.join(', ')}] must be N × d or L × N × d with positive integers.`);
  }
  const bytes = DTYPE_BYTES[dtype];
  const byteLength = product(shape) * bytes;
  if (byteLength !== size) {
    const d = shape[shape.length - 1];
    const perRow = d * bytes * (shape.length === 3 ? shape[0] : 1);
    const fit = size % perRow === 0 ? ` With d = ${d}${shape.length === 3 ? ` and L = ${shape[0]}` : ''} the file holds N = ${n(size / perRow)} rows.` : ` ${n(size)} is not a multiple of ${n(perRow)} (one row of d = ${d} ${dtype}${shape.length === 3 ? ` × ${shape[0]} layers` : ''}), so d is wrong or the file is not ${dtype}.`;
    throw new ArrayFileError(`${name} has ${n(size)} bytes but shape [${shape.join(', ')}] ${dtype} needs ${n(byteLength)}.${fit}`);
  }
  return { name, dtype, shape, offset: 0, byteLength };
}

function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9) return false;
  const len = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  return head[8] === 0x7b /* { */ && len >= 2 && len < 100_000_000 && len !== 0;
}

async function safetensorsLayouts(name: string, size: number, read: ReadRange, head: Uint8Array): Promise<ArrayLayout[]> {
  const len = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (8 + len > size) throw new ArrayFileError(`${name} declares a ${n(len)}-byte header but the file is ${n(size)} bytes; it is truncated or not a .safetensors file.`);
  const bytes = 8 + len <= head.length ? head.subarray(8, 8 + len) : await read(8, 8 + len);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ArrayFileError(`${name} has a header that is not valid JSON (${(e as Error).message}); the file is damaged or not a .safetensors file.`);
  }
  const base = 8 + len;
  const arrays: ArrayLayout[] = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new ArrayFileError(`${name}: the header entry for "${key}" lacks dtype, shape or data_offsets; the file is damaged.`);
    }
    const dtype = ST_DTYPE[e.dtype];
    if (!dtype) throw new ArrayFileError(`${name}: tensor "${key}" has dtype ${e.dtype}; the workbench reads F32, F16, BF16, F64, I32, I64, U8 and BOOL. Convert it with tensor.float() before saving.`);
    const [begin, end] = e.data_offsets;
    const byteLength = product(e.shape) * DTYPE_BYTES[dtype];
    if (end - begin !== byteLength) throw new ArrayFileError(`${name}: tensor "${key}" [${e.shape.join(', ')}] ${e.dtype} needs ${n(byteLength)} bytes but its data_offsets span ${n(end - begin)}; the file is damaged.`);
    if (base + end > size) throw new ArrayFileError(`${name}: tensor "${key}" ends at byte ${n(base + end)} but the file is ${n(size)} bytes; it is truncated. Re-copy it.`);
    arrays.push({ name: key, dtype, shape: e.shape, offset: base + begin, byteLength });
  }
  if (!arrays.length) throw new ArrayFileError(`${name} holds no tensors.`);
  return arrays;
}

// ---- zip / npz ------------------------------------------------------------------------------------

interface ZipEntry { name: string; method: number; compressedSize: number; size: number; localOffset: number }

/** The central directory of a zip (with zip64 sizes and offsets). */
async function zipEntries(name: string, size: number, read: ReadRange): Promise<ZipEntry[]> {
  const tailStart = Math.max(0, size - 65_557);
  const tail = await read(tailStart, size);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new ArrayFileError(`${name} is a truncated zip archive (no end-of-archive record); re-save it with numpy.savez or re-copy it.`);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || dv.getUint32(locator, true) !== 0x07064b50) throw new ArrayFileError(`${name}: a zip64 archive without its zip64 locator; the file is damaged.`);
    const z64 = Number(dv.getBigUint64(locator + 8, true));
    const rec = await read(z64, z64 + 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > size) throw new ArrayFileError(`${name} is a truncated zip archive (its directory lies past the end of the file); re-copy it.`);
  const cd = await read(cdOffset, cdOffset + cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== 0x02014b50) throw new ArrayFileError(`${name}: damaged zip directory; re-save the archive.`);
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    const entryName = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 0xffffffff values follow in order (size, compressed size, offset).
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = cv.getUint16(q, true), len = cv.getUint16(q + 2, true);
      if (id === 0x0001) {
        let r = q + 4;
        if (uncompressed === 0xffffffff) { uncompressed = Number(cv.getBigUint64(r, true)); r += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(cv.getBigUint64(r, true)); r += 8; }
        if (localOffset === 0xffffffff) { localOffset = Number(cv.getBigUint64(r, true)); }
      }
      q += 4 + len;
    }
    entries.push({ name: entryName, method, compressedSize, size: uncompressed, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

async function npzLayouts(name: string, size: number, read: ReadRange): Promise<ArrayLayout[]> {
  const entries = (await zipEntries(name, size, read)).filter((e) => !e.name.endsWith('/'));
  if (!entries.length) throw new ArrayFileError(`${name} is an empty zip archive.`);
  const arrays: ArrayLayout[] = [];
  for (const e of entries) {
    if (!e.name.endsWith('.npy')) throw new ArrayFileError(`${name} holds ${e.name}, which is not an .npy array; an .npz must hold only arrays (numpy.savez).`);
    const local = await read(e.localOffset, Math.min(size, e.localOffset + 30));
    const lv = new DataView(local.buffer, local.byteOffset, local.byteLength);
    if (local.length < 30 || lv.getUint32(0, true) !== 0x04034b50) throw new ArrayFileError(`${name}: the entry ${e.name} is damaged (no local header); re-save the archive.`);
    const dataStart = e.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    if (dataStart + e.compressedSize > size) throw new ArrayFileError(`${name} is truncated inside ${e.name}; re-copy it.`);
    const arrayName = e.name.slice(0, -4);
    if (e.method === 0) {
      const head = await read(dataStart, Math.min(dataStart + e.size, dataStart + 65_536));
      const layout = npyLayout(name, head, e.size, 0, arrayName);
      arrays.push({ ...layout, offset: dataStart + layout.offset });
    } else if (e.method === 8) {
      // Deflated (savez_compressed): the header is read by inflating the entry (small .npz only).
      const inflated = inflateSync(await read(dataStart, dataStart + e.compressedSize));
      const layout = npyLayout(name, inflated.subarray(0, 65_536), inflated.length, 0, arrayName);
      arrays.push({ ...layout, compressed: { offset: dataStart, size: e.compressedSize } });
    } else throw new ArrayFileError(`${name}: ${e.name} uses zip compression method ${e.method}; re-save with numpy.savez or numpy.savez_compressed.`);
  }
  return arrays;
}

// ---- values -------------------------------------------------------------------------------------

/** The whole data of one array (a compressed npz entry is inflated). */
export async function readArrayBytes(layout: ArrayLayout, read: ReadRange): Promise<Uint8Array> {
  if (layout.compressed) {
    const inflated = inflateSync(await read(layout.compressed.offset, layout.compressed.offset + layout.compressed.size));
    return inflated.subarray(layout.offset, layout.offset + layout.byteLength);
  }
  return read(layout.offset, layout.offset + layout.byteLength);
}

/** Little-endian values of `dtype` as float32. */
export function decodeFloat32(bytes: Uint8Array, dtype: ArrayDtype): Float32Array {
  const count = bytes.byteLength / DTYPE_BYTES[dtype];
  if (dtype === 'float32' && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'float32': for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'float16': for (let i = 0; i < count; i++) out[i] = float16ToFloat32(dv.getUint16(2 * i, true)); break;
    case 'bfloat16': { const u = new Uint32Array(out.buffer); for (let i = 0; i < count; i++) u[i] = dv.getUint16(2 * i, true) << 16; break; }
    case 'float64': for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'int32': for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'int64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    case 'uint8': case 'bool': for (let i = 0; i < count; i++) out[i] = bytes[i]; break;
  }
  return out;
}

/** Integer ids as int32 (int64 values outside the int32 range are an error naming the index). */
export function decodeInt32(bytes: Uint8Array, dtype: ArrayDtype, name: string): Int32Array {
  const count = bytes.byteLength / DTYPE_BYTES[dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(count);
  if (dtype === 'int32') { for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true); return out; }
  if (dtype === 'uint8' || dtype === 'bool') { for (let i = 0; i < count; i++) out[i] = bytes[i]; return out; }
  if (dtype === 'int64') {
    for (let i = 0; i < count; i++) {
      const v = dv.getBigInt64(8 * i, true);
      if (v > 2147483647n || v < -2147483648n) throw new ArrayFileError(`${name} holds int64 value ${v} at index ${i}, outside the int32 range of token or document ids; save them as int32.`);
      out[i] = Number(v);
    }
    return out;
  }
  throw new ArrayFileError(`${name} holds ${dtype} values; token ids, document ids and positions must be integers (int32 or int64).`);
}

/**
 * What an array is by its content: float arrays with two dimensions > 1 are activations; 1-D
 * (or [N, 1]) floats/bools are labels; 1-D integers are positions (each value 0 or the previous + 1,
 * mostly +1), document ids (never decreasing, with repeats) or token ids. Names decide only
 * between equally plausible readings.
 */
export function arrayRole(layout: Pick<ArrayLayout, 'name' | 'dtype' | 'shape'>, values?: Int32Array): 'activations' | 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'other' {
  const big = layout.shape.filter((s) => s > 1).length;
  const isFloat = layout.dtype === 'float32' || layout.dtype === 'float16' || layout.dtype === 'bfloat16' || layout.dtype === 'float64';
  const isInt = layout.dtype === 'int32' || layout.dtype === 'int64' || layout.dtype === 'uint8';
  // [N, d] / [L, N, d] with d > 1 (even with N ≤ 1: the loader then says why it cannot train).
  if (isFloat && layout.shape.length >= 2 && layout.shape.length <= 3 && layout.shape[layout.shape.length - 1] > 1) return 'activations';
  if ((isFloat || layout.dtype === 'bool') && big <= 1) return 'labels';
  if (!isInt) return 'other';
  const perRowCopies = layout.shape.length === 2 && big === 2; // [L, N] copies of the same ids
  if (big > 1 && !perRowCopies) return 'other';
  const lower = layout.name.toLowerCase();
  if (!values || values.length < 2) return /doc/.test(lower) ? 'doc_ids' : /pos/.test(lower) ? 'positions' : 'tokens';
  const N = perRowCopies ? layout.shape[1] : values.length;
  let plusOne = 0, nonDecreasing = true, repeats = 0, resetsToLow = true;
  let min = Infinity;
  for (let i = 0; i < N; i++) if (values[i] < min) min = values[i];
  for (let i = 1; i < N; i++) {
    const a = values[i - 1], b = values[i];
    if (b === a + 1) plusOne++;
    else if (b !== min) resetsToLow = false;
    if (b < a) nonDecreasing = false;
    if (b === a) repeats++;
  }
  if (resetsToLow && plusOne >= 0.5 * (N - 1)) return 'positions';
  if (nonDecreasing && repeats >= 0.5 * (N - 1)) return 'doc_ids';
  if (/doc/.test(lower) && nonDecreasing) return 'doc_ids';
  return 'tokens';
}
