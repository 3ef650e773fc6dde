// For CLI tests: capture what a command writes to stdout and stderr.
import { vi } from 'vitest';

export function captureOutput() {
  let out = '', err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  return { done: () => { o.mockRestore(); e.mockRestore(); return { out, err }; } };
}
