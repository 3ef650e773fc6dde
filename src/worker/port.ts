// The engine worker's side of the channel to the page: posting messages, reporting errors, and
// yielding to the mailbox between training slices.
import type { FromWorker } from './protocol';

export const post = (msg: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(msg, transfer);

export function fail(e: unknown, ids: { runId?: string; requestId?: string }, hint?: string) {
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'error', ...ids, message, hint });
}

export const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

/**
 * Let queued messages (pause, slider changes) run, then continue. A MessageChannel task rather
 * than setTimeout(0), which browsers clamp to 4 ms once nested.
 */
const yieldChannel = new MessageChannel();
const yieldWaiters: (() => void)[] = [];
yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
export function yieldToMailbox(): Promise<void> {
  return new Promise((resolve) => { yieldWaiters.push(resolve); yieldChannel.port2.postMessage(null); });
}

/** Files as transferable buffers (each its own ArrayBuffer, so the page can take them without a copy). */
export function toBuffers(files: Record<string, Uint8Array>): Record<string, ArrayBuffer> {
  const buffers: Record<string, ArrayBuffer> = {};
  for (const [name, bytes] of Object.entries(files)) {
    buffers[name] = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  return buffers;
}

