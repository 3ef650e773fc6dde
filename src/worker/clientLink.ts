// What this file is: the page's link to the engine worker: the worker handle, sending a message, request ids.
// Every page-side module of src/worker (client*.ts) sends through here, and only
// src/worker/clientEngine.ts starts, replaces or drops the worker. Page code, app layer like
// src/worker/client.ts (.dependency-cruiser.cjs).
import type { ToWorker } from './protocol';

/** The engine worker; null before it starts and once it is down. */
export const link: { worker: Worker | null } = { worker: null };

let counter = 0;
export const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

export function send(msg: ToWorker, transfer: Transferable[] = []) {
  link.worker?.postMessage(msg, transfer);
}
