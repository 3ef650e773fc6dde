import { decodeFloat32, type ArrayDtype } from './arrayFile';

// safetensors reader/writer: an 8-byte little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets: [begin, end)}} (+ optional __metadata__), then the raw data.

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/** Tensors in sorted-name order, F32, header padded with spaces to a multiple of 8 bytes. */
export function writeSafetensors(tensors: Record<string, F32Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor ${name} has ${t.data.length} values but shape [${t.shape}] needs ${count}.`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
const DTYPES: Record<string, ArrayDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

export interface ReadTensor extends F32Tensor {
  dtype: string;
}

/** Read F32, F16 and BF16 tensors (all returned as float32). */
export function readSafetensors(buffer: ArrayBuffer, name = 'the file'): { tensors: Record<string, ReadTensor>; metadata: Record<string, string> } {
  if (buffer.byteLength < 8) throw new SafetensorsError(`${name} is too short to be a .safetensors file (${buffer.byteLength} bytes).`);
  const view = new DataView(buffer);
  const len = Number(view.getBigUint64(0, true));
  if (len > 100_000_000 || 8 + len > buffer.byteLength) {
    throw new SafetensorsError(`${name} declares a ${len}-byte header but holds ${buffer.byteLength} bytes; it is truncated or not a .safetensors file. Re-copy or re-export it.`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, len)));
  } catch (e) {
    throw new SafetensorsError(`${name} has a header that is not valid JSON (${(e as Error).message}); it is damaged or not a .safetensors file. Re-copy or re-export it.`);
  }
  const base = 8 + len;
  const tensors: Record<string, ReadTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') { metadata = entry as Record<string, string>; continue; }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = BYTES[e.dtype];
    if (!size) throw new SafetensorsError(`${name}: tensor ${key} has dtype ${e.dtype}; only F32, F16 and BF16 are read.`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = e.data_offsets;
    if (end - begin !== count * size || base + end > buffer.byteLength) {
      throw new SafetensorsError(`${name}: tensor ${key} [${e.shape}] ${e.dtype} needs ${count * size} bytes at ${begin}..${end}, but the file is ${buffer.byteLength} bytes; it is truncated or damaged. Re-copy or re-export it.`);
    }
    const decoded = decodeFloat32(new Uint8Array(buffer, base + begin, end - begin), DTYPES[e.dtype]);
    // An aligned F32 tensor decodes to a view of the file: copy it so the tensor owns its values.
    const data = decoded.buffer === buffer ? decoded.slice() : decoded;
    tensors[key] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}
