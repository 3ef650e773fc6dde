// The layout of an .npy array (or a stored .npz entry) from its header alone.
import { NpyError, parseNpyHeader } from './npy';
import { ArrayFileError, DTYPE_BYTES, count, product, shapeText, startsWith, type ArrayDtype, type ArrayLayout, type ReadRange } from './arrayFileTypes';

const NPY_DESCR: Record<string, ArrayDtype> = {
  '<f4': 'float32', '<f2': 'float16', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64',
  '|u1': 'uint8', '<u1': 'uint8', '|b1': 'bool', '<b1': 'bool',
};
export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** An .npy header longer than this is damage, not a header (NumPy's own limit is far lower). */
const MAX_NPY_HEADER = 1 << 20;

/** The layout of an .npy file or stored npz entry at `base` of the file, `available` bytes long. */
export async function npyAt(fileName: string, arrayName: string, read: ReadRange, base: number, available: number): Promise<ArrayLayout> {
  const where = arrayName === fileName ? fileName : `${fileName}: ${arrayName}`;
  const pre = await read(base, base + Math.min(available, 12));
  const headerEnd = npyHeaderEnd(where, pre, available);
  const head = headerEnd <= pre.length ? pre.subarray(0, headerEnd) : await read(base, base + headerEnd);
  const layout = npyLayout(where, arrayName, head, available);
  return { ...layout, offset: base + layout.offset };
}

/** Where the header of an .npy that starts with `pre` ends (its data offset), checked against the bytes there are. */
export function npyHeaderEnd(where: string, pre: Uint8Array, available: number): number {
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
export function npyLayout(where: string, arrayName: string, head: Uint8Array, available: number): ArrayLayout {
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
