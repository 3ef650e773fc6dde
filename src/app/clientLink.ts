// The page's link to the engine worker: the worker handle, sending a message, request ids.
// Every page-side module of src/app sends through here, and only
// src/app/clientEngine.ts starts, replaces or drops the worker.
import type { ToWorker } from '../worker/protocol';

/** The engine worker; null before it starts and once it is down. */
export const link: { worker: Worker | null } = { worker: null };

let counter = 0;
export const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

export function send(msg: ToWorker, transfer: Transferable[] = []) {
  link.worker?.postMessage(msg, transfer);
}
