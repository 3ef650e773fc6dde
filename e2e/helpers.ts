// Shared steps of the browser tests.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, type Page } from '@playwright/test';

export const SHARED_DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data/stories260k');
export const hasSharedData = existsSync(path.join(SHARED_DATA, 'train/resid_l3.npy'));

/** A file of ../shared/data/stories260k as a drop would hand it over. */
export const sharedFile = (rel: string) => ({ name: path.basename(rel), bytes: readFileSync(path.join(SHARED_DATA, rel)) });

/** Drop the real layer-3 training activations with their tokens, document ids and vocab. */
export async function dropRealActivations(page: Page) {
  await dropFiles(page, [sharedFile('train/resid_l3.npy'), sharedFile('train/tokens.npy'), sharedFile('train/doc_ids.npy'), sharedFile('vocab.json')]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('35,234 × 64');
}

/** A float32 [rows, cols] .npy (format 1.0) built by hand. */
export function npyBytes(rows: number, cols: number, fill: (r: number, c: number) => number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const buf = Buffer.alloc(10 + header.length + rows * cols * 4);
  buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) buf.writeFloatLE(fill(r, c), 10 + header.length + 4 * (r * cols + c));
  return buf;
}

/** Drop a file on the page the way a user's drag and drop does. */
export async function dropFile(page: Page, name: string, bytes: Uint8Array) {
  await dropFiles(page, [{ name, bytes }]);
}

export async function openApp(page: Page, query = '') {
  await page.goto(`/${query}`);
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  await expect(page.getByTestId('backend')).not.toContainText('starting');
}

/** Set a small, fast configuration in the Model panel. */
export async function configure(page: Page, opts: { variant: string; dSae?: number; batch?: number; steps?: number }) {
  await page.getByLabel('Variant').selectOption(opts.variant);
  await page.getByLabel('d_sae', { exact: true }).fill(String(opts.dSae ?? 128));
  await page.getByLabel('Batch size', { exact: true }).fill(String(opts.batch ?? 256));
  await page.getByLabel('Steps', { exact: true }).fill(String(opts.steps ?? 200));
}

export async function chartPoints(page: Page, testId: string): Promise<number> {
  return Number(await page.getByTestId(testId).getAttribute('data-points'));
}

/**
 * The chart's point count once it stops changing: rows sent just before a pause, a kill or the
 * end may still be drawn after it (the charts take turns, one redraw per frame, each at most ~10
 * times a second), later still on a loaded machine.
 */
export async function settledChartPoints(page: Page, testId: string): Promise<number> {
  let points = -1;
  await expect.poll(async () => {
    const before = points;
    points = await chartPoints(page, testId);
    return points === before;
  }, { intervals: [400] }).toBe(true);
  return points;
}

function npyHeader(descr: string, shape: number[]): string {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  return header;
}

function npyOf(descr: string, shape: number[], bytesPer: number, write: (buf: Buffer, i: number, offset: number) => void): Buffer {
  const header = npyHeader(descr, shape);
  const count = shape.reduce((a, b) => a * b, 1);
  const buf = Buffer.alloc(10 + header.length + count * bytesPer);
  buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  for (let i = 0; i < count; i++) write(buf, i, 10 + header.length + bytesPer * i);
  return buf;
}

/** A float32 [layers, rows, cols] .npy (activations of several layers). */
export function npy3Bytes(layers: number, rows: number, cols: number, fill: (l: number, r: number, c: number) => number): Buffer {
  return npyOf('<f4', [layers, rows, cols], 4, (buf, i, off) => {
    const c = i % cols, r = Math.floor(i / cols) % rows, l = Math.floor(i / (cols * rows));
    buf.writeFloatLE(fill(l, r, c), off);
  });
}

/** An int32 [n] .npy (token ids, one per activation row). */
export function npyInt32Bytes(values: ArrayLike<number>): Buffer {
  return npyOf('<i4', [values.length], 4, (buf, i, off) => buf.writeInt32LE(values[i], off));
}

/** Drop several files at once, as one drag and drop. */
export async function dropFiles(page: Page, files: { name: string; bytes: Uint8Array }[]) {
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of list) {
      const bin = atob(b64);
      const arr = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) arr[i] = bin.charCodeAt(i);
      dt.items.add(new File([arr], name, { type: 'application/octet-stream' }));
    }
    return dt;
  }, files.map((f) => ({ name: f.name, b64: Buffer.from(f.bytes).toString('base64') })));
  await page.dispatchEvent('body', 'dragenter', { dataTransfer });
  await page.dispatchEvent('body', 'drop', { dataTransfer });
}
