// Activations read from a file by row ranges, never whole: the common ground of the in-memory
// path (which reads every row once) and the streamed path (which reads chunks while training).
// A Blob is the file in both worlds: a dropped File in the browser, fs.openAsBlob in Node.
import { decodeFloat32, readArrayBytes, type ArrayLayout, type ReadRange } from '../io/arrayFile';

export interface ActivationSource {
  name: string;
  rows: number;
  dIn: number;
  /** 1 for [N, d] arrays; L for [L, N, d] (rows come back layer-major, [L·d] per row). */
  nLayers: number;
  /** dtype of the stored values (decoded to float32 on read). */
  dtype: string;
  /** Bytes of activation data in the file. */
  bytes: number;
  /** Rows [start, start + count) as float32, [count, nLayers·dIn]. */
  readRows(start: number, count: number): Promise<Float32Array>;
  /** The same rows restricted to layers first..last (inclusive); reads only those layers. */
  withLayers(first: number, last: number): ActivationSource;
}

const ELEMENT_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };

export function readRangeOf(blob: Blob): ReadRange {
  return async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer());
}

/** Rows of an [N, d] or [L, N, d] float array stored uncompressed at `layout.offset` of the file. */
export function sourceFromLayout(fileName: string, layout: ArrayLayout, read: ReadRange, layers?: [number, number]): ActivationSource {
  const size = ELEMENT_BYTES[layout.dtype];
  if (!size) throw new Error(`${fileName}: ${layout.name} holds ${layout.dtype} values, not activations.`);
  if (layout.compressed) throw new Error(`${fileName}: ${layout.name} is compressed inside the .npz and cannot be read by slices; re-save it with np.save (or np.savez, uncompressed).`);
  const threeD = layout.shape.length === 3;
  const [fileLayers, N, d] = threeD ? layout.shape : [1, layout.shape[0], layout.shape[1]];
  const [first, last] = layers ?? [0, fileLayers - 1];
  const L = last - first + 1;
  const name = layout.name === fileName ? fileName : `${fileName}:${layout.name}`;
  return {
    name, rows: N, dIn: d, nLayers: L, dtype: layout.dtype, bytes: layout.byteLength,
    async readRows(start, count) {
      const width = L * d;
      if (L === 1) {
        const begin = layout.offset + (first * N + start) * d * size;
        return decodeFloat32(await read(begin, begin + count * d * size), layout.dtype);
      }
      const out = new Float32Array(count * width);
      for (let l = 0; l < L; l++) {
        const begin = layout.offset + ((first + l) * N + start) * d * size;
        const values = decodeFloat32(await read(begin, begin + count * d * size), layout.dtype);
        for (let r = 0; r < count; r++) out.set(values.subarray(r * d, (r + 1) * d), r * width + l * d);
      }
      return out;
    },
    withLayers(a, b) {
      return sourceFromLayout(fileName, layout, read, [first + a, first + b]);
    },
  };
}

/** All rows of an array in memory (a compressed .npz entry is inflated first). */
export async function readAllRows(layout: ArrayLayout, read: ReadRange): Promise<Float32Array> {
  const bytes = await readArrayBytes(layout, read);
  const flat = decodeFloat32(bytes, layout.dtype);
  if (layout.shape.length !== 3) return flat;
  // [L, N, d] → N rows of L·d, layer-major, so one batch row carries every layer of one token.
  const [L, N, d] = layout.shape;
  const out = new Float32Array(N * L * d);
  for (let l = 0; l < L; l++) for (let n = 0; n < N; n++) out.set(flat.subarray((l * N + n) * d, (l * N + n + 1) * d), (n * L + l) * d);
  return out;
}
