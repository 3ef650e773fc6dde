// Reading an array's bytes (inflating a deflated .npz entry) and decoding them as floats or ids.
import { float16ToFloat32 } from './npy';
import { inflateInto } from './arrayFileNpz';
import { ArrayFileError, DTYPE_BYTES, count, type ArrayDtype, type ArrayLayout, type ReadRange } from './arrayFileTypes';

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
