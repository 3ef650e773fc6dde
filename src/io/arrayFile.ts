// Indexing an activation file's arrays by its format (sniffed), and the array readers' entry point.
// Where the arrays of an activation file are, read from its headers only: .npy, .npz (a zip of
// .npy entries, stored or deflated, zip64 included), .safetensors, or raw float data with a shape
// the user gives. Nothing here reads a whole file: big files are then streamed by byte ranges.
// Every failure is an ArrayFileError naming the file, what is wrong, and how to fix it.
// The formats are read by src/io/arrayFileNpy.ts, arrayFileNpz.ts and arrayFileSafetensors.ts (raw
// files below), values by arrayFileValues.ts, roles by arrayFileRole.ts; their shared types are in
// arrayFileTypes.ts. Every name is importable from here.
import { NPY_MAGIC, npyAt } from './arrayFileNpy';
import { npzLayouts } from './arrayFileNpz';
import { MAX_SAFETENSORS_HEADER, looksLikeSafetensors, safetensorsLayouts } from './arrayFileSafetensors';
import { ArrayFileError, DTYPE_BYTES, NeedsShapeError, count, nonEmpty, product, shapeText, startsWith, type ArrayLayout, type FileIndex, type ReadRange } from './arrayFileTypes';

export { ArrayFileError, DTYPE_BYTES, NeedsShapeError } from './arrayFileTypes';
export type { ArrayDtype, ArrayLayout, FileIndex, ReadRange } from './arrayFileTypes';
export { decodeFloat32, decodeInt32, readArrayBytes } from './arrayFileValues';
export { arrayRole } from './arrayFileRole';

const RAW_EXTENSIONS = ['.f32', '.f16', '.bin', '.raw', '.dat'];
/** Widths tried when telling a user which shapes a raw file could have. */
const COMMON_WIDTHS = [64, 128, 256, 512, 768, 1024, 1280, 1536, 2048, 2304, 2560, 3072, 4096, 5120, 8192];

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
