// The tensor layouts of a .safetensors file from its JSON header (checked against its size).
import { ArrayFileError, DTYPE_BYTES, count, nonEmpty, product, shapeText, type ArrayDtype, type ArrayLayout, type ReadRange } from './arrayFileTypes';

const ST_DTYPE: Record<string, ArrayDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I32: 'int32', I64: 'int64', U8: 'uint8', BOOL: 'bool' };
/** The safetensors specification caps the JSON header at 100 MB. */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

export function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9 || head[8] !== 0x7b /* { */) return false;
  const len = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return len >= 2n && len <= BigInt(MAX_SAFETENSORS_HEADER);
}

export async function safetensorsLayouts(name: string, size: number, read: ReadRange, head: Uint8Array): Promise<ArrayLayout[]> {
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
