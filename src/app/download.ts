// Saving bytes made in the page (exports, checkpoints) as a browser download.
import { zipSync } from 'fflate';

export function download(name: string, bytes: BlobPart, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** One download: a single .zip as is, anything else zipped under `zipName`. */
export function downloadFiles(zipName: string, files: Record<string, ArrayBuffer>) {
  const entries = Object.entries(files);
  if (entries.length === 1 && entries[0][0].toLowerCase().endsWith('.zip')) {
    download(entries[0][0], entries[0][1], 'application/zip');
    return;
  }
  const zip = zipSync(Object.fromEntries(entries.map(([n, b]) => [n, new Uint8Array(b)])));
  download(zipName, zip as BlobPart, 'application/zip');
}
