// Where the arrays of an activation file are, read from its headers only: .npy, .npz (a zip of
// .npy entries, stored or deflated, zip64 included), .safetensors, or raw float data with a shape
// the user gives. Nothing here reads a whole file: big files are then streamed by byte ranges.
// Every failure is an ArrayFileError naming the file, what is wrong, and how to fix it.
import { Inflate } from 'fflate';
import { NpyError, float16ToFloat32, parseNpyHeader } from './npy';

export type ArrayDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

export interface ArrayLayout {
  /** npz entry name without .npy, safetensors tensor name, or the file name. */
  name: string;
  dtype: ArrayDtype;
  shape: number[];
  /** Byte offset of the C-order little-endian data in the file (in the inflated entry if compressed). */
  offset: number;
  /** count · bytes per element. */
  byteLength: number;
  /** A deflated npz entry: where its compressed bytes are in the file. */
  compressed?: { offset: number; size: number };
}

export interface FileIndex {
  format: 'npy' | 'npz' | 'safetensors' | 'raw';
  arrays: ArrayLayout[];
}

/** Bytes [start, end) of the file (fewer only past its end). */
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
    super(`${name} is raw binary data (${count(bytes)} bytes) with no header: give its shape (N × d, or L × N × d) and dtype.`);
    this.name = 'NeedsShapeError';
  }
}

export const DTYPE_BYTES: Record<ArrayDtype, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1 };

const NPY_DESCR: Record<string, ArrayDtype> = {
  '<f4': 'float32', '<f2': 'float16', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64',
  '|u1': 'uint8', '<u1': 'uint8', '|b1': 'bool', '<b1': 'bool',
};
const ST_DTYPE: Record<string, ArrayDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I32: 'int32', I64: 'int64', U8: 'uint8', BOOL: 'bool' };
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const RAW_EXTENSIONS = ['.f32', '.f16', '.bin', '.raw', '.dat'];
/** The safetensors specification caps the JSON header at 100 MB. */
const MAX_SAFETENSORS_HEADER = 100_000_000;
/** An .npy header longer than this is damage, not a header (NumPy's own limit is far lower). */
const MAX_NPY_HEADER = 1 << 20;
/** Widths tried when telling a user which shapes a raw file could have. */
const COMMON_WIDTHS = [64, 128, 256, 512, 768, 1024, 1280, 1536, 2048, 2304, 2560, 3072, 4096, 5120, 8192];

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const count = (v: number) => v.toLocaleString('en-US');
const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

/**
 * Index a file's arrays reading only headers (the .npy header; the safetensors JSON header; the zip
 * central directory, local headers, and the first inflated bytes of deflated entries). The format
 * comes from the content (magic bytes); the extension matters only for raw files, which need
 * options.rawShape (else NeedsShapeError) and must have exactly product(shape) · bytes.
 */
export async function indexArrayFile(name: string, size: number, read: ReadRange, options?: { rawShape?: number[]; rawDtype?: 'float32' | 'float16' }): Promise<FileIndex> {
  if (size === 0) throw new ArrayFileError(`${name} is empty (0 bytes); re-save or re-copy it.`);
  const head = await read(0, Math.min(size, 16));
  const lower = name.toLowerCase();
  const rawByName = RAW_EXTENSIONS.some((e) => lower.endsWith(e));
  if (startsWith(head, NPY_MAGIC)) {
    return { format: 'npy', arrays: [nonEmpty(name, await npyAt(name, name, read, 0, size))] };
  }
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) {
    return { format: 'npz', arrays: await npzLayouts(name, size, read) };
  }
  if (looksLikeSafetensors(head)) {
    try {
      return { format: 'safetensors', arrays: await safetensorsLayouts(name, size, read, head) };
    } catch (e) {
      // Raw floats whose 9th byte happens to be '{' are still raw floats.
      if (!(rawByName && options?.rawShape && e instanceof ArrayFileError)) throw e;
    }
  }
  if (options?.rawShape) return { format: 'raw', arrays: [rawLayout(name, size, options.rawShape, options.rawDtype ?? (lower.endsWith('.f16') ? 'float16' : 'float32'))] };
  if (rawByName) throw new NeedsShapeError(name, size);
  if (lower.endsWith('.npy')) {
    if (size < 10 && startsWith(NPY_MAGIC, head)) throw new ArrayFileError(`${name} is truncated inside its .npy header (the file has only ${count(size)} bytes); re-save or re-copy it.`);
    throw new ArrayFileError(`${name} is not a NumPy .npy file (it does not start with \\x93NUMPY); it is damaged or has the wrong extension. Save the array with numpy.save("${name}", array).`);
  }
  if (lower.endsWith('.safetensors')) {
    const declared = head.length >= 9 && head[8] === 0x7b ? new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true) : 0n;
    if (declared > BigInt(MAX_SAFETENSORS_HEADER)) {
      throw new ArrayFileError(`${name} declares a ${count(Number(declared))}-byte JSON header, more than the ${count(MAX_SAFETENSORS_HEADER)} bytes the safetensors format allows; the file is damaged. Re-save or re-copy it.`);
    }
    throw new ArrayFileError(`${name} is not a valid .safetensors file: its first 8 bytes do not give a plausible header length followed by a JSON header ('{'); it is damaged or truncated. Re-save or re-copy it.`);
  }
  if (lower.endsWith('.npz')) throw new ArrayFileError(`${name} is not a zip archive (an .npz starts with PK, as numpy.savez writes it); re-save it with numpy.savez.`);
  throw new ArrayFileError(`${name}: unknown file type; activations can be .npy, .npz, .safetensors, or raw float32/float16 (.f32, .f16, .bin, .raw, .dat) with a shape you give.`);
}

function startsWith(bytes: ArrayLike<number>, prefix: ArrayLike<number>): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function nonEmpty(where: string, layout: ArrayLayout): ArrayLayout {
  if (layout.shape.includes(0)) {
    throw new ArrayFileError(`${where} has shape ${shapeText(layout.shape)}: it holds no values (a dimension is 0). Save the array after the rows are filled in.`);
  }
  return layout;
}

// ---- .npy -------------------------------------------------------------------------------------

/** The layout of an .npy file or stored npz entry at `base` of the file, `available` bytes long. */
async function npyAt(fileName: string, arrayName: string, read: ReadRange, base: number, available: number): Promise<ArrayLayout> {
  const where = arrayName === fileName ? fileName : `${fileName}: ${arrayName}`;
  const pre = await read(base, base + Math.min(available, 12));
  const headerEnd = npyHeaderEnd(where, pre, available);
  const head = headerEnd <= pre.length ? pre.subarray(0, headerEnd) : await read(base, base + headerEnd);
  const layout = npyLayout(where, arrayName, head, available);
  return { ...layout, offset: base + layout.offset };
}

/** Where the header of an .npy that starts with `pre` ends (its data offset), checked against the bytes there are. */
function npyHeaderEnd(where: string, pre: Uint8Array, available: number): number {
  if (!startsWith(pre, NPY_MAGIC)) {
    throw new ArrayFileError(`${where} is not a NumPy .npy array (it does not start with \\x93NUMPY); save it with numpy.save.`);
  }
  const major = pre[6];
  const start = major === 1 ? 10 : major === 2 || major === 3 ? 12 : 0;
  if (pre.length < 8 || (start && pre.length < start)) {
    throw new ArrayFileError(`${where} is truncated inside its .npy header (only ${count(available)} bytes); re-save or re-copy it.`);
  }
  if (!start) throw new ArrayFileError(`${where} uses .npy format version ${major}.${pre[7]}, which is not read here; save it with numpy.save (format 1.0–3.0).`);
  const dv = new DataView(pre.buffer, pre.byteOffset, pre.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  // An implausible length is damage whatever the file's size; a plausible one past the end is truncation.
  if (headerLen > MAX_NPY_HEADER) throw new ArrayFileError(`${where} declares a ${count(headerLen)}-byte .npy header, which is not plausible (numpy.save writes a few hundred bytes at most); the file is damaged. Re-save it with numpy.save.`);
  if (start + headerLen > available) {
    throw new ArrayFileError(`${where}: its .npy header declares ${count(headerLen)} bytes, past the end of the data (${count(available)} bytes in all); the file is truncated or damaged. Re-save or re-copy it.`);
  }
  return start + headerLen;
}

/** An .npy layout from its complete header bytes; offset relative to the start of the .npy. */
function npyLayout(where: string, arrayName: string, head: Uint8Array, available: number): ArrayLayout {
  const text = new TextDecoder('latin1').decode(head.subarray(10));
  if (/'descr'\s*:\s*\[/.test(text)) {
    throw new ArrayFileError(`${where} is a structured (record) array with named fields; save each field as its own array, e.g. numpy.savez(path, **{k: a[k] for k in a.dtype.names}).`);
  }
  // numpy.save always writes these three keys: name the one that is missing.
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!new RegExp(`'${key}'\\s*:`).test(text)) {
      throw new ArrayFileError(`${where}: its .npy header has no '${key}' (it reads ${JSON.stringify(text.trim().slice(0, 100))}); the file is damaged or was not written by numpy.save. Re-save it with numpy.save.`);
    }
  }
  let h;
  try {
    h = parseNpyHeader(head, where);
  } catch (e) {
    if (e instanceof NpyError) throw new ArrayFileError(e.message);
    throw e;
  }
  // A Fortran-order array with at most one dimension > 1 has the same bytes as in C order.
  if (h.fortran && h.shape.filter((s) => s > 1).length > 1) {
    throw new ArrayFileError(`${where} is stored in Fortran (column-major) order; save np.ascontiguousarray(array) instead.`);
  }
  const descr = h.descr.replace(/^=/, '<');
  if (descr.startsWith('>') && !/^>[ub]1$/.test(descr)) {
    throw new ArrayFileError(`${where} is big-endian (${h.descr}); convert it with array.astype("<${h.descr.slice(1)}") before saving.`);
  }
  const dtype = NPY_DESCR[descr] ?? NPY_DESCR[descr.replace(/^>/, '|')];
  if (!dtype) throw new ArrayFileError(unsupportedNpyDtype(where, h.descr));
  const byteLength = product(h.shape) * DTYPE_BYTES[dtype];
  if (h.dataOffset + byteLength > available) {
    throw new ArrayFileError(`${where} is truncated: its header declares shape ${shapeText(h.shape)} ${dtype} = ${count(byteLength)} bytes of data but only ${count(Math.max(0, available - h.dataOffset))} are present; re-save or re-copy the file.`);
  }
  return { name: arrayName, dtype, shape: h.shape, offset: h.dataOffset, byteLength };
}

function unsupportedNpyDtype(where: string, descr: string): string {
  const kind = /^[<>|=]?([a-zA-Z])(\d*)/.exec(descr);
  const code = kind?.[1] ?? '';
  const bits = Number(kind?.[2] ?? 0) * 8;
  const numbers = 'save a numeric array such as array.astype("float32")';
  const text = 'activations must be numbers, and a vocabulary belongs in a .json array of strings';
  const what: Record<string, [string, string]> = {
    O: ['an object array, saved with allow_pickle=True', numbers],
    c: ['complex numbers', 'save the real part (array.real.astype("float32")) or the magnitude (np.abs(array).astype("float32"))'],
    U: ['text strings', text],
    S: ['byte strings', text],
    V: ['raw void records', numbers],
    M: ['datetimes', numbers],
    m: ['time deltas', numbers],
    f: [`${bits}-bit floats`, 'convert it with array.astype("float32")'],
    i: [`${bits}-bit integers`, 'convert ids with array.astype("int32") and values with array.astype("float32")'],
    u: [`${bits}-bit unsigned integers`, 'convert ids with array.astype("int32") and values with array.astype("float32")'],
  };
  const [kindText, fix] = what[code] ?? ['an unknown type', numbers];
  return `${where} has dtype ${descr} (${kindText}), which is not supported; ${fix}.`;
}

// ---- raw --------------------------------------------------------------------------------------

function rawLayout(name: string, size: number, shape: number[], dtype: 'float32' | 'float16'): ArrayLayout {
  if (shape.length < 2 || shape.length > 3 || shape.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new ArrayFileError(`${name}: the shape ${shapeText(shape)} must be N × d or L × N × d with positive whole numbers.`);
  }
  nonEmpty(name, { name, dtype, shape, offset: 0, byteLength: 0 });
  const bytes = DTYPE_BYTES[dtype];
  const byteLength = product(shape) * bytes;
  if (byteLength === size) return { name, dtype, shape, offset: 0, byteLength };
  const L = shape.length === 3 ? shape[0] : 1;
  const d = shape[shape.length - 1];
  const asked = `${name} has ${count(size)} bytes but shape ${shapeText(shape)} ${dtype} needs ${count(byteLength)} (${count(product(shape))} values × ${bytes} bytes)`;
  if (size % bytes !== 0) return fail(`${asked}. ${count(size)} bytes is not a whole number of ${dtype} values (${bytes} bytes each): the file is truncated, has a header, or is not ${dtype}.`);
  const values = size / bytes;
  const perRow = L * d;
  const layers = L > 1 ? `${L} × ` : '';
  if (values % perRow === 0) return fail(`${asked}. It holds ${count(values)} ${dtype} values: with d = ${d}${L > 1 ? ` and L = ${L}` : ''} that is ${layers}N × ${d} with N = ${count(values / perRow)}.`);
  // Widths that would fit: the usual model widths dividing the values per layer, nearest to d first.
  const perLayer = values % L === 0 ? values / L : 0;
  const fits = perLayer ? [...COMMON_WIDTHS.filter((w) => w < perLayer && perLayer % w === 0), ...divisorsNear(perLayer)] : [];
  const nearest = [...new Set(fits)].sort((a, b) => Math.abs(Math.log(a / d)) - Math.abs(Math.log(b / d))).slice(0, 3)
    .map((w) => `${layers}N × ${w} would need N = ${count(perLayer / w)}`);
  const hint = nearest.length ? ` Shapes that would fit: ${nearest.join('; ')}.` : '';
  return fail(`${asked}. It holds ${count(values)} ${dtype} values, not a multiple of one row (${L > 1 ? `L × d = ${L} × ${d} = ${count(perRow)}` : `d = ${count(d)}`} values), so d is wrong, the file is truncated, or it is not ${dtype}.${hint}`);

  function fail(message: string): never {
    throw new ArrayFileError(message);
  }
}

/** A few divisors of n between 8 and 16384, largest first (for hints when no usual width fits). */
function divisorsNear(n: number): number[] {
  const out: number[] = [];
  for (let w = Math.min(16384, Math.floor(n / 2)); w >= 8 && out.length < 3; w--) if (n % w === 0) out.push(w);
  return out;
}

// ---- .safetensors -----------------------------------------------------------------------------

function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9 || head[8] !== 0x7b /* { */) return false;
  const len = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return len >= 2n && len <= BigInt(MAX_SAFETENSORS_HEADER);
}

async function safetensorsLayouts(name: string, size: number, read: ReadRange, head: Uint8Array): Promise<ArrayLayout[]> {
  const len = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (8 + len > size) throw new ArrayFileError(`${name} declares a ${count(len)}-byte header but the file is ${count(size)} bytes; it is truncated or not a .safetensors file. Re-save or re-copy it.`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await read(8, 8 + len)));
  } catch (e) {
    const why = e instanceof SyntaxError ? e.message : 'it is not UTF-8 text';
    throw new ArrayFileError(`${name} has a header that is not valid JSON (${why}); the file is damaged or not a .safetensors file. Re-save it (safetensors.torch.save_file).`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new ArrayFileError(`${name} has a JSON header that is not an object of tensors; the file is damaged or not a .safetensors file.`);
  }
  const base = 8 + len;
  const arrays: ArrayLayout[] = [];
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${name}: tensor "${key}"`;
    const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!e || typeof e !== 'object' || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new ArrayFileError(`${where} lacks dtype, shape or data_offsets in the header; the file is damaged.`);
    }
    if (!e.shape.every(isCount)) throw new ArrayFileError(`${where} has shape ${JSON.stringify(e.shape)}, not a list of whole numbers; the file is damaged.`);
    const offsets = e.data_offsets;
    if (offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw new ArrayFileError(`${where} has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 ≤ begin ≤ end; the file is damaged.`);
    }
    const dtype = ST_DTYPE[e.dtype];
    if (!dtype) throw new ArrayFileError(`${where} has dtype ${e.dtype}, which is not supported (the workbench reads F32, F16, BF16, F64, I32, I64, U8 and BOOL); convert it before saving, e.g. tensor.float().`);
    const shape = e.shape as number[];
    const [begin, end] = offsets as [number, number];
    const byteLength = product(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== byteLength) throw new ArrayFileError(`${where} ${shapeText(shape)} ${e.dtype} needs ${count(byteLength)} bytes but its data_offsets span ${count(end - begin)}; the file is damaged.`);
    if (base + end > size) {
      throw new ArrayFileError(`${where} lies at bytes ${count(base + begin)}–${count(base + end)} but the file is only ${count(size)} bytes; it is truncated (or its header declares a shape, ${shapeText(shape)} ${e.dtype}, that the file does not hold). Re-save or re-copy it.`);
    }
    arrays.push(nonEmpty(where, { name: key, dtype, shape, offset: base + begin, byteLength }));
  }
  if (!arrays.length) throw new ArrayFileError(`${name} holds no tensors (its header lists none).`);
  return arrays;
}

// ---- zip / npz --------------------------------------------------------------------------------

interface ZipEntry { name: string; method: number; flags: number; compressedSize: number; size: number; localOffset: number }

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

/** The central directory of a zip, with zip64 sizes and offsets. */
async function zipEntries(name: string, size: number, read: ReadRange): Promise<ZipEntry[]> {
  const truncated = `${name} is a truncated or damaged zip archive (no end-of-archive record at its end); re-copy it, or re-save it with numpy.savez.`;
  if (size < 22) throw new ArrayFileError(truncated);
  // The end record is the last 22 bytes plus a comment (NumPy writes none) of at most 65,535 bytes.
  let tail: Uint8Array = new Uint8Array(0), dv = new DataView(tail.buffer), eocd = -1, tailStart = 0;
  for (const span of [1024, 65_557]) {
    tailStart = Math.max(0, size - span);
    tail = await read(tailStart, size);
    dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    for (let i = tail.length - 22; i >= 0 && eocd < 0; i--) {
      if (dv.getUint32(i, true) === EOCD && i + 22 + dv.getUint16(i + 20, true) <= tail.length) eocd = i;
    }
    if (eocd >= 0 || span >= size) break;
  }
  if (eocd < 0) throw new ArrayFileError(truncated);
  let entryCount = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (entryCount === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locAt = tailStart + eocd - 20;
    const loc = locAt >= 0 ? await read(locAt, locAt + 20) : new Uint8Array(0);
    const locView = new DataView(loc.buffer, loc.byteOffset, loc.byteLength);
    if (loc.length < 20 || locView.getUint32(0, true) !== ZIP64_LOCATOR) throw new ArrayFileError(`${name} is a zip64 archive without its zip64 locator; the file is damaged. Re-copy it.`);
    const at = Number(locView.getBigUint64(8, true));
    const rec = at + 56 <= size ? await read(at, at + 56) : new Uint8Array(0);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    if (rec.length < 56 || rv.getUint32(0, true) !== ZIP64_EOCD) throw new ArrayFileError(`${name}: its zip64 end-of-archive record is missing or damaged; re-copy it.`);
    entryCount = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > size) throw new ArrayFileError(`${name} is a truncated zip archive (its directory lies past the end of the file); re-copy it.`);
  const cd = await read(cdOffset, cdOffset + cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  const damaged = `${name} has a damaged zip directory; re-copy it, or re-save it with numpy.savez.`;
  let p = 0;
  for (let i = 0; i < entryCount; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL) throw new ArrayFileError(damaged);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > cd.length) throw new ArrayFileError(damaged);
    const entryName = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // The zip64 extra field holds, in this order, whichever of size, compressed size and offset are 0xffffffff.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = cv.getUint16(q, true), len = cv.getUint16(q + 2, true);
      if (id === 0x0001) {
        let r = q + 4;
        const next = () => { if (r + 8 > q + 4 + len) throw new ArrayFileError(damaged); const v = Number(cv.getBigUint64(r, true)); r += 8; return v; };
        if (uncompressed === 0xffffffff) uncompressed = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      q += 4 + len;
    }
    entries.push({ name: entryName, method, flags, compressedSize, size: uncompressed, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

async function npzLayouts(name: string, size: number, read: ReadRange): Promise<ArrayLayout[]> {
  const entries = (await zipEntries(name, size, read)).filter((e) => !e.name.endsWith('/') && !e.name.startsWith('__MACOSX/'));
  if (!entries.length) throw new ArrayFileError(`${name} is an empty zip archive; an .npz holds arrays saved with numpy.savez.`);
  const arrays: ArrayLayout[] = [];
  for (const e of entries) {
    if (!e.name.endsWith('.npy')) throw new ArrayFileError(`${name} holds ${JSON.stringify(e.name)}, which is not an .npy array; an .npz must hold only arrays (numpy.savez), so re-save it without that entry.`);
    const arrayName = e.name.slice(0, -4);
    const where = `${name}: ${arrayName}`;
    if (e.flags & 1) throw new ArrayFileError(`${where} is encrypted; save the arrays with numpy.savez (no password).`);
    const local = await read(e.localOffset, Math.min(size, e.localOffset + 30));
    const lv = new DataView(local.buffer, local.byteOffset, local.byteLength);
    if (local.length < 30 || lv.getUint32(0, true) !== LOCAL) throw new ArrayFileError(`${where}: the zip entry is damaged (no local header at byte ${count(e.localOffset)}); re-copy the file or re-save it with numpy.savez.`);
    const dataStart = e.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    if (dataStart + e.compressedSize > size) {
      throw new ArrayFileError(`${name} is truncated inside ${e.name}: the entry needs bytes up to ${count(dataStart + e.compressedSize)} but the file is ${count(size)} bytes. Re-copy it.`);
    }
    if (e.method === 0) {
      if (e.compressedSize !== e.size) throw new ArrayFileError(`${where}: the zip directory gives a stored entry two different sizes; the file is damaged.`);
      arrays.push(nonEmpty(where, await npyAt(name, arrayName, read, dataStart, e.size)));
    } else if (e.method === 8) {
      // Deflated (savez_compressed): inflate just enough of the entry to read its .npy header.
      const head = await inflatePrefix(where, read, dataStart, e.compressedSize, 12);
      const headerEnd = npyHeaderEnd(where, head, e.size);
      const full = headerEnd <= head.length ? head : await inflatePrefix(where, read, dataStart, e.compressedSize, headerEnd);
      if (full.length < headerEnd) throw new ArrayFileError(`${where}: the compressed entry ends inside its .npy header; the file is damaged. Re-copy it.`);
      const layout = npyLayout(where, arrayName, full.subarray(0, headerEnd), e.size);
      arrays.push(nonEmpty(where, { ...layout, compressed: { offset: dataStart, size: e.compressedSize } }));
    } else {
      throw new ArrayFileError(`${where} uses zip compression method ${e.method}, which is not read here; re-save with numpy.savez or numpy.savez_compressed.`);
    }
  }
  return arrays;
}

/**
 * Inflate a deflate stream of `size` bytes at `offset` of the file into `out`, reading it in
 * chunks and stopping as soon as `out` is full. Returns how many bytes were written.
 */
async function inflateInto(where: string, read: ReadRange, offset: number, size: number, out: Uint8Array, chunk: number): Promise<number> {
  let filled = 0;
  const inflate = new Inflate((data) => {
    const n = Math.min(data.length, out.length - filled);
    out.set(n === data.length ? data : data.subarray(0, n), filled);
    filled += n;
  });
  for (let pos = 0; pos < size && filled < out.length; pos += chunk) {
    const end = Math.min(size, pos + chunk);
    const bytes = await read(offset + pos, offset + end);
    if (bytes.length !== end - pos) throw new ArrayFileError(`${where}: the file ended while reading the compressed entry; it is truncated. Re-copy it.`);
    try {
      inflate.push(bytes, end === size);
    } catch (e) {
      throw new ArrayFileError(`${where}: the compressed data is damaged (${(e as Error).message}); re-copy the file or re-save it with numpy.savez_compressed.`);
    }
  }
  return filled;
}

async function inflatePrefix(where: string, read: ReadRange, offset: number, size: number, want: number): Promise<Uint8Array> {
  const out = new Uint8Array(want);
  // Small input chunks: a run of zeros inflates ~1000×, so 1 KiB never makes more than ~1 MB.
  const filled = await inflateInto(where, read, offset, size, out, 1024);
  return out.subarray(0, filled);
}

// ---- values -----------------------------------------------------------------------------------

/** The whole data of one array (a compressed npz entry is inflated). `fileName` only improves messages. */
export async function readArrayBytes(layout: ArrayLayout, read: ReadRange, fileName?: string): Promise<Uint8Array> {
  const where = fileName && fileName !== layout.name ? `${fileName}: ${layout.name}` : layout.name;
  if (layout.compressed) {
    const out = new Uint8Array(layout.offset + layout.byteLength);
    const filled = await inflateInto(where, read, layout.compressed.offset, layout.compressed.size, out, 1 << 18);
    if (filled < out.length) throw new ArrayFileError(`${where}: the compressed entry inflates to ${count(filled)} bytes but its header needs ${count(out.length)}; the file is damaged. Re-copy it.`);
    return out.subarray(layout.offset);
  }
  const bytes = await read(layout.offset, layout.offset + layout.byteLength);
  if (bytes.length !== layout.byteLength) throw new ArrayFileError(`${where}: only ${count(bytes.length)} of ${count(layout.byteLength)} bytes could be read; the file is truncated or changed since it was opened. Re-open it.`);
  return bytes;
}

function elementCount(bytes: Uint8Array, dtype: ArrayDtype): number {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw new ArrayFileError(`${count(bytes.byteLength)} bytes are not a whole number of ${dtype} values (${size} bytes each).`);
  return bytes.byteLength / size;
}

/** Little-endian values of `dtype` as float32 (float32 data at an aligned offset is a view, not a copy). */
export function decodeFloat32(bytes: Uint8Array, dtype: ArrayDtype): Float32Array {
  const n = elementCount(bytes, dtype);
  if (dtype === 'float32' && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'float32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'float16': for (let i = 0; i < n; i++) out[i] = float16ToFloat32(dv.getUint16(2 * i, true)); break;
    // bfloat16 is the top half of a float32: shift its bits into place.
    case 'bfloat16': { const u = new Uint32Array(out.buffer); for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16; break; }
    case 'float64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'int32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); break;
    case 'int64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    case 'uint8': case 'bool': for (let i = 0; i < n; i++) out[i] = bytes[i]; break;
  }
  return out;
}

/**
 * Integer ids as int32 (int64 values outside the int32 range are an error naming the index).
 * `what` names the ids in messages ("document ids"); by default any of the three kinds.
 */
export function decodeInt32(bytes: Uint8Array, dtype: ArrayDtype, name: string, what?: string): Int32Array {
  if (dtype !== 'int32' && dtype !== 'int64' && dtype !== 'uint8' && dtype !== 'bool') {
    throw new ArrayFileError(`${name} holds ${dtype} values; ${what ? `${what} must be integers` : 'token ids, document ids and positions must be integers'}. Save them with array.astype(np.int32).`);
  }
  const n = elementCount(bytes, dtype);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(n);
  if (dtype === 'int32') for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
  else if (dtype === 'uint8' || dtype === 'bool') for (let i = 0; i < n; i++) out[i] = bytes[i];
  else {
    for (let i = 0; i < n; i++) {
      const v = dv.getBigInt64(8 * i, true);
      if (v > 2147483647n || v < -2147483648n) throw new ArrayFileError(`${name} holds int64 value ${v} at index ${i}, outside the int32 range of token or document ids; save them as int32.`);
      out[i] = Number(v);
    }
  }
  return out;
}

// ---- roles ------------------------------------------------------------------------------------

/**
 * What an array is by its content: floats with at least two dimensions > 1 are activations
 * ([N, d] / [L, N, d]; also a single row [1, d], so the loader can say why one row cannot train);
 * other 1-D-like floats/bools ([N], [N, 1], [1, N] named as labels) are labels, unless named as
 * token ids, document ids or positions (decoding those then says they must be integers); 1-D integers are
 * positions (each value the previous + 1, or back to the lowest value: 0, or 1 where BOS was
 * dropped; mostly +1 steps), document ids (never decreasing, with repeats) or token ids. [L, N]
 * integers are read from their first row (the caller checks that the rows are equal). Names decide
 * only between equally plausible readings: 0, 1, 2, … (one document, or one-token documents), only
 * 0/1 values (ids or labels), and too few values to tell.
 */
export function arrayRole(layout: Pick<ArrayLayout, 'name' | 'dtype' | 'shape'>, values?: Int32Array): 'activations' | 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'other' {
  const { shape, dtype } = layout;
  const lower = layout.name.toLowerCase();
  const docName = /doc/.test(lower), posName = /pos/.test(lower), labelName = /label|^y$|target/.test(lower);
  const big = shape.filter((s) => s > 1).length;
  const isFloat = dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
  const isInt = dtype === 'int32' || dtype === 'int64' || dtype === 'uint8';
  if (isFloat) {
    const oneRow = shape.length === 2 && shape[0] === 1 && shape[1] > 1 && !labelName;
    if ((shape.length === 2 || shape.length === 3) && (big >= 2 || oneRow)) return 'activations';
    if (big > 1 || shape.length === 0) return 'other'; // 4-D and up: no reading of it is safe
    // Ids saved as floats by mistake: their role, so that decoding them says they must be integers.
    if (!labelName && /token|input_ids/.test(lower)) return 'tokens';
    if (!labelName && docName) return 'doc_ids';
    if (!labelName && /^pos|position/.test(lower)) return 'positions';
    return 'labels';
  }
  if (dtype === 'bool') return big <= 1 && shape.length >= 1 ? 'labels' : 'other';
  if (!isInt || shape.length === 0) return 'other';
  const perRowCopies = shape.length === 2 && big === 2; // [L, N] copies of the same ids
  if (big > 1 && !perRowCopies) return 'other';
  const N = Math.min(values?.length ?? 0, perRowCopies ? shape[1] : Infinity);
  if (!values || N < 2) return docName ? 'doc_ids' : posName ? 'positions' : labelName ? 'labels' : 'tokens';
  let min = Infinity, binary = true;
  for (let i = 0; i < N; i++) {
    min = Math.min(min, values[i]);
    if (values[i] !== 0 && values[i] !== 1) binary = false;
  }
  let plusOne = 0, repeats = 0, nonDecreasing = true, resetsToMin = true;
  for (let i = 1; i < N; i++) {
    const a = values[i - 1], b = values[i];
    if (b === a + 1) plusOne++;
    else if (b !== min) resetsToMin = false;
    if (b < a) nonDecreasing = false;
    if (b === a) repeats++;
  }
  const steps = N - 1;
  if (binary && labelName) return 'labels';
  if (plusOne === steps && docName) return 'doc_ids'; // 0, 1, 2, …: one-token documents
  if (resetsToMin && min <= 1 && plusOne >= 0.5 * steps) return 'positions';
  if (nonDecreasing && repeats >= 0.5 * steps) return 'doc_ids';
  if (nonDecreasing && docName) return 'doc_ids';
  return 'tokens';
}
