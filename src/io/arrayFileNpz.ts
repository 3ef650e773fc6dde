// The array layouts of an .npz (a zip of .npy entries, zip64 included), and inflating its entries.
// Only the zip's central directory, the local headers and the first inflated bytes of a deflated
// entry are read to index it; src/io/arrayFileValues.ts inflates a whole entry when it is read.
import { Inflate } from 'fflate';
import { npyAt, npyHeaderEnd, npyLayout } from './arrayFileNpy';
import { ArrayFileError, count, nonEmpty, type ArrayLayout, type ReadRange } from './arrayFileTypes';

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

export async function npzLayouts(name: string, size: number, read: ReadRange): Promise<ArrayLayout[]> {
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
export async function inflateInto(where: string, read: ReadRange, offset: number, size: number, out: Uint8Array, chunk: number): Promise<number> {
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
