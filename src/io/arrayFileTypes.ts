// The types, errors and small helpers shared by the array-file readers (src/io/arrayFile.ts).
// They sit below arrayFile.ts and its format readers (arrayFileNpy.ts, arrayFileNpz.ts,
// arrayFileSafetensors.ts, arrayFileValues.ts, arrayFileRole.ts), which all import them, so that
// none of those imports arrayFile.ts (which imports them: no cycles). arrayFile.ts re-exports them.
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

export const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
export const count = (v: number) => v.toLocaleString('en-US');
export const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

export function startsWith(bytes: ArrayLike<number>, prefix: ArrayLike<number>): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

export function nonEmpty(where: string, layout: ArrayLayout): ArrayLayout {
  if (layout.shape.includes(0)) {
    throw new ArrayFileError(`${where} has shape ${shapeText(layout.shape)}: it holds no values (a dimension is 0). Save the array after the rows are filled in.`);
  }
  return layout;
}
