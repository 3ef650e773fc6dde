// The command line's options: parsing, "did you mean", and every check that needs no file.
import type { FileOptions } from '../data/types';
import { BACKEND_FLAGS, type BackendFlag } from './backendChoice';
import { siteOfHook } from '../engine/lm/hooks';

/** A mistake in the command line itself: the usage is printed after the message (exit code 2). */
export class UsageError extends Error {}

export type Flags = Record<string, string>;

/** Options that take no value (present: "yes"). */
const SWITCHES = ['exclude-nonfinite', 'force'];

/** Options of reading an activation file (--data). */
export const DATA_OPTIONS = ['select', 'shape', 'dtype', 'memory-budget', 'exclude-nonfinite'];
/** Files read with the activations as what their flag says. */
export const COMPANION_OPTIONS = ['tokens', 'vocab', 'labels', 'doc-ids', 'positions'];
/** The model run over a text. */
export const MODEL_OPTIONS = ['lm', 'tokenizer', 'text', 'layer', 'hook'];
const BACKEND_OPTIONS = ['backend', 'threads'];
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  train: ['data', 'config', 'out', 'steps', 'seed', 'init-from', 'force', 'splice-every', ...COMPANION_OPTIONS, ...DATA_OPTIONS, ...MODEL_OPTIONS, ...BACKEND_OPTIONS],
  eval: ['sae', 'data', ...DATA_OPTIONS, ...MODEL_OPTIONS, ...BACKEND_OPTIONS],
  activations: [...MODEL_OPTIONS, 'out', 'include-bos', 'force', ...BACKEND_OPTIONS],
};

/** Edit distance, for "did you mean" on a mistyped option. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

export function parseFlags(command: string, args: string[], required: readonly string[]): Flags {
  const allowed = COMMAND_OPTIONS[command];
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"; options are written --name value`);
    const name = a.slice(2);
    if (!allowed.includes(name)) {
      const near = allowed.filter((o) => editDistance(o, name) <= 2).sort((x, y) => editDistance(x, name) - editDistance(y, name))[0];
      throw new UsageError(`unknown option --${name} for ${command}${near ? `; did you mean --${near}?` : `; ${command} takes ${allowed.map((o) => `--${o}`).join(', ')}`}`);
    }
    if (name in flags) throw new UsageError(`--${name} is given twice; give it once`);
    if (SWITCHES.includes(name)) { flags[name] = 'yes'; continue; }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
    i++;
  }
  for (const r of required) if (!(r in flags)) throw new UsageError(`missing --${r}`);
  return flags;
}

export function intFlag(flags: Flags, name: string, min = -Infinity): number | undefined {
  if (!(name in flags)) return undefined;
  const text = flags[name].trim();
  const v = text === '' ? NaN : Number(text);
  if (!Number.isInteger(v) || v < min) {
    const kind = min === 1 ? 'a positive integer' : min === 0 ? 'an integer ≥ 0' : 'an integer';
    throw new UsageError(`--${name} must be ${kind}, got "${flags[name]}"`);
  }
  return v;
}

/** Options that do nothing in this mode are refused (a silently ignored option hides a mistake). */
export function refuseUnused(flags: Flags, names: readonly string[], why: string): void {
  const given = names.filter((n) => n in flags);
  if (given.length) throw new UsageError(`${given.map((n) => `--${n}`).join(', ')} ${given.length === 1 ? 'does' : 'do'} nothing ${why}; leave ${given.length === 1 ? 'it' : 'them'} out`);
}

/**
 * Every option that can be checked without reading a file, so that a typo is reported at once
 * rather than after a large file has loaded.
 */
export function checkOptions(flags: Flags): void {
  backendFlag(flags);
  intFlag(flags, 'threads', 1);
  fileOptions(flags);
  if (flags['memory-budget'] !== undefined) parseSize(flags['memory-budget']);
  sitesFlag(flags);
  intFlag(flags, 'steps', 1);
  intFlag(flags, 'seed');
  intFlag(flags, 'splice-every', 1);
  const bos = flags['include-bos'];
  if (bos !== undefined && bos !== 'yes' && bos !== 'no') throw new UsageError(`--include-bos must be yes or no, got "${bos}"`);
}

export function backendFlag(flags: Flags): BackendFlag | undefined {
  const b = flags.backend;
  if (b === undefined) return undefined;
  if (!BACKEND_FLAGS.includes(b as BackendFlag)) throw new UsageError(`--backend must be ${BACKEND_FLAGS.slice(0, -1).join(', ')} or ${BACKEND_FLAGS.at(-1)}, got "${b}"`);
  return b as BackendFlag;
}

/** "1GiB", "512MiB", "800MB", "2e9" → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*([\d.e+]+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(text);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 2 ** 10, mb: 1e6, mib: 2 ** 20, gb: 1e9, gib: 2 ** 30, tb: 1e12, tib: 2 ** 40 };
  const value = m ? Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()] : NaN;
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--memory-budget must be a size such as 1GiB or 512MiB, got "${text}"`);
  return Math.round(value);
}

export function fileOptions(flags: Flags): FileOptions | undefined {
  const o: FileOptions = {};
  if (flags.select) o.select = flags.select;
  if (flags.shape) {
    const shape = flags.shape.split(/[,x×]/).map((v) => Number(v.trim()));
    if (shape.length < 2 || shape.length > 3 || shape.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--shape must be N,d or L,N,d (positive integers), got "${flags.shape}"`);
    o.rawShape = shape;
  }
  if (flags.dtype) {
    if (flags.dtype !== 'float32' && flags.dtype !== 'float16') throw new UsageError(`--dtype must be float32 or float16, got "${flags.dtype}"`);
    o.rawDtype = flags.dtype;
  }
  if (flags['exclude-nonfinite']) o.excludeNonFinite = true;
  return Object.keys(o).length ? o : undefined;
}

/** Layers of --layer: "3", "1,2,3" or "1-3". */
export function layersFlag(flags: Flags): number[] | undefined {
  const text = flags.layer;
  if (text === undefined) return undefined;
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(text);
  const layers = range
    ? Array.from({ length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) }, (_, i) => Number(range[1]) + i)
    : text.split(',').map((v) => Number(v.trim()));
  if (layers.length === 0 || layers.some((v) => !Number.isInteger(v) || v < 0)) throw new UsageError(`--layer must be a layer index, a list 1,2,3 or a range 1-3, got "${text}"`);
  return layers;
}

/**
 * Model sites of --layer (residual sites: "3", "1,2,3", "1-3") or --hook (TransformerLens names:
 * blocks.3.hook_resid_pre, blocks.3.hook_mlp_out, …, comma-separated), never both.
 */
export function sitesFlag(flags: Flags): number[] | undefined {
  if (flags.layer !== undefined && flags.hook !== undefined) throw new UsageError('give --layer or --hook, not both');
  if (flags.hook === undefined) return layersFlag(flags);
  const names = flags.hook.split(',').map((h) => h.trim());
  return names.map((name) => {
    const site = siteOfHook(name);
    if (site === undefined) throw new UsageError(`--hook ${name} is not a hook name; give TransformerLens names such as blocks.3.hook_resid_pre, blocks.3.hook_attn_out, blocks.3.hook_resid_mid, blocks.3.hook_mlp_out or blocks.3.hook_resid_post`);
    return site;
  });
}

/** --lm and --text are needed together (--tokenizer too unless --lm is a model folder, checked when it is opened). */
export function requireModelFlags(flags: Flags): void {
  for (const name of ['lm', 'text']) if (!(name in flags)) throw new UsageError(`--${name} is needed with --lm (a Hugging Face model folder or a llama2.c .bin with --tokenizer, and a .txt)`);
}

