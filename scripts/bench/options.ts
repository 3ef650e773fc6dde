// The options of `npm run bench` (scripts/bench.ts): the usage text and the command line parsed into Options.
// Also the sizes, variants and backends the bench knows; bench-results/bench.json records Options as parsed.
import path from 'node:path';
import { nodeCores } from '../../src/cli/nodeBackend';
import type { Architecture } from '../../src/engine/config';
import type { BackendName } from '../../src/engine/types';

/** chromium-1t: the same page served without cross-origin isolation (--one-thread): wasm on one thread. */
export type Where = 'node' | 'chromium' | 'chromium-1t';
export type SizeName = 'small' | 'medium' | 'gpt2';
export const SIZES: Record<SizeName, { dIn: number; dSae: number; batch: number }> = {
  small: { dIn: 64, dSae: 2048, batch: 1024 },
  medium: { dIn: 512, dSae: 4096, batch: 512 },
  gpt2: { dIn: 768, dSae: 24576, batch: 1024 },
};
/**
 * One row's variant: its label in the tables, its k (undefined: the config default, 5 % of d_sae) and
 * other config keys. A label ending in DENSE_SUFFIX is the same step with `sparse: 'off'`, compared
 * with the native row of the label without it.
 */
export interface Case { label: string; architecture: Architecture; k?: number; extra?: Record<string, unknown> }
export const DENSE_SUFFIX = ', dense';
/**
 * θ₀ of the GPT-2-width JumpReLU rows: the bench's rows are N(0, I) and the initial encoder columns
 * unit vectors, so z ~ N(0, 1) and θ₀ = 1.88 leaves about 3 % of the latents active (Φ(−1.88) ≈
 * 0.030), the L0 range JumpReLU SAEs train at. The dense NumPy step's time does not depend on θ.
 */
const GPT2_JUMPRELU_THRESHOLD = 1.88;
/**
 * GPT-2 width (issue 23): TopK at k 32 and at the default 5 % (k 1,229), BatchTopK at k 32, JumpReLU
 * at L0 ≈ 3 %; TopK k 32 and JumpReLU also with the dense step, to show what the sparse one saves. No gated.
 */
const GPT2_CASES: Case[] = [
  { label: 'relu', architecture: 'relu' },
  { label: 'topk', architecture: 'topk', k: 32 },
  { label: `topk${DENSE_SUFFIX}`, architecture: 'topk', k: 32, extra: { sparse: 'off' } },
  { label: 'topk k 5%', architecture: 'topk' },
  { label: 'batchtopk', architecture: 'batchtopk', k: 32 },
  { label: 'jumprelu', architecture: 'jumprelu', extra: { init_threshold: GPT2_JUMPRELU_THRESHOLD } },
  { label: `jumprelu${DENSE_SUFFIX}`, architecture: 'jumprelu', extra: { init_threshold: GPT2_JUMPRELU_THRESHOLD, sparse: 'off' } },
];
/** The rows of a size (native_step.py's cases() is the same list). */
export function casesFor(size: SizeName, variants: Architecture[]): Case[] {
  return size === 'gpt2' ? GPT2_CASES.filter((c) => variants.includes(c.architecture)) : variants.map((v) => ({ label: v, architecture: v }));
}
/** The d_in 768 relu series of the scaling sweep (batch 1024), run when --sizes includes gpt2. */
export const SCALING_768_D_SAE = [4096, 8192, 16384, 24576, 32768];
export const VARIANTS: Architecture[] = ['relu', 'topk', 'batchtopk', 'jumprelu', 'gated'];
/** Node's backends by default; webgpu (Dawn, scripts/bench/node.ts) only when asked for as node:webgpu, since without a GPU it is a software adapter. */
const NODE_BACKENDS: BackendName[] = ['wasm', 'cpu'];
const NODE_AVAILABLE: BackendName[] = [...NODE_BACKENDS, 'webgpu'];
const CHROMIUM_BACKENDS: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
const SCALING_D_SAE = [512, 1024, 2048, 4096, 8192, 16384];
const SCALING_BATCH = [128, 256, 512, 1024, 2048, 4096];
export const PROFILED: Architecture[] = ['relu', 'topk'];

const HELP = `npm run bench -- [options]
  --quick                 small size only, ~1 s per row, fewer scaling points, 10 s responsiveness
  --sizes small,medium    sizes to run (default both; gpt2 = 768/24,576/1,024: wasm, and Node
                          webgpu where its small rows promise it fits, unless --full)
  --variants relu,topk,…  variants (default relu,topk,batchtopk,jumprelu,gated)
  --backends LIST         e.g. wasm,webgl or node:wasm,chromium:webgpu (a plain name means every
                          environment that has it; default: node wasm,cpu and chromium webgpu,webgl,wasm,cpu);
                          node:webgpu (tfjs webgpu on Dawn and the machine's Vulkan driver) only by that name
  --node-only / --browser-only
  --node-threads N        wasm threads in Node (default: every core; 1 = the package's one-thread build)
  --full                  also run the combinations skipped as too slow (medium on cpu / software webgpu;
                          gpt2 anywhere but wasm and a Node webgpu fast enough for it)
  --target-seconds S      time each row for about S seconds (default 3; --quick 1)
  --no-native             skip the NumPy reference      --no-profile        skip the per-op profiles
  --no-scaling            skip the scaling sweep        --no-responsiveness skip the app measurement
  --resp-seconds S        seconds of training the responsiveness measurement watches (default 20)
  --one-thread            also run Chromium wasm served without cross-origin isolation (port+1): the
                          single-threaded wasm build, to show what the thread pool is worth
  --no-build              serve dist/ as it is instead of building the current source
  --port N                vite preview port (default 4191; --one-thread uses the next one too)
  --out FILE              JSON output (default bench-results/bench.json)
  --svg FILE              scaling chart (default docs/bench-scaling.svg)`;

export interface Options {
  quick: boolean;
  sizes: SizeName[];
  variants: Architecture[];
  node: BackendName[];
  chromium: BackendName[];
  full: boolean;
  targetMs: number;
  native: boolean;
  profile: boolean;
  scaling: boolean;
  responsiveness: boolean;
  respSeconds: number;
  build: boolean;
  oneThread: boolean;
  nodeThreads: number;
  port: number;
  out: string;
  svg: string;
}

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

export function parseArgs(args: string[]): Options | null {
  if (args.includes('--help') || args.includes('-h')) { console.log(HELP); return null; }
  const value = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined; };
  const list = (name: string) => value(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(['--quick', '--sizes', '--variants', '--backends', '--node-only', '--browser-only', '--full', '--target-seconds', '--no-native', '--no-profile',
    '--no-scaling', '--scaling', '--no-responsiveness', '--resp-seconds', '--no-build', '--one-thread', '--node-threads', '--port', '--out', '--svg']);
  args.forEach((a, i) => {
    if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}\n${HELP}`);
    if (!a.startsWith('--') && !(i > 0 && ['--sizes', '--variants', '--backends', '--target-seconds', '--resp-seconds', '--node-threads', '--port', '--out', '--svg'].includes(args[i - 1]))) throw new Error(`unexpected argument ${a}\n${HELP}`);
  });
  const quick = args.includes('--quick');
  const sizes = (list('sizes') ?? (quick ? ['small'] : ['small', 'medium'])) as SizeName[];
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`unknown size ${s}; use small, medium, gpt2`);
  const variants = (list('variants') ?? VARIANTS) as Architecture[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; use ${VARIANTS.join(', ')}`);
  let node = [...NODE_BACKENDS], chromium = [...CHROMIUM_BACKENDS];
  const backends = list('backends');
  if (backends) {
    node = []; chromium = [];
    for (const b of backends) {
      const [env, name] = b.includes(':') ? b.split(':') : ['', b];
      if (![...CHROMIUM_BACKENDS].includes(name as BackendName)) throw new Error(`unknown backend ${b}; use webgpu, webgl, wasm, cpu, optionally prefixed node: or chromium:`);
      if (env === 'node' && !NODE_AVAILABLE.includes(name as BackendName)) throw new Error(`${name} is not available in Node (${NODE_AVAILABLE.join(', ')} are)`);
      // A plain name: every environment whose defaults have it (Node's webgpu only as node:webgpu).
      if (env === 'node' || (env === '' && NODE_BACKENDS.includes(name as BackendName))) node.push(name as BackendName);
      if (env === '' || env === 'chromium') chromium.push(name as BackendName);
    }
  }
  if (args.includes('--node-only')) chromium = [];
  if (args.includes('--browser-only')) node = [];
  return {
    quick, sizes, variants, node, chromium,
    full: args.includes('--full'),
    targetMs: 1000 * Number(value('target-seconds') ?? (quick ? 1 : 3)),
    native: !args.includes('--no-native'),
    profile: !args.includes('--no-profile'),
    scaling: !args.includes('--no-scaling'),
    responsiveness: !args.includes('--no-responsiveness') && !args.includes('--node-only'),
    respSeconds: Number(value('resp-seconds') ?? (quick ? 10 : 20)),
    build: !args.includes('--no-build'),
    oneThread: args.includes('--one-thread') && !args.includes('--node-only'),
    nodeThreads: positiveInt(value('node-threads') ?? String(nodeCores()), '--node-threads'),
    port: Number(value('port') ?? 4191),
    out: value('out') ?? path.join('bench-results', 'bench.json'),
    svg: value('svg') ?? path.join('docs', 'bench-scaling.svg'),
  };
}

/** The d_sae values and batch sizes of the scaling sweep (fewer with --quick); native_step.py gets the same lists. */
export function scalingLists(opts: Options): { dSae: number[]; batch: number[]; dSae768: number[] } {
  const dSae768 = opts.sizes.includes('gpt2') ? SCALING_768_D_SAE : [];
  return opts.quick ? { dSae: [512, 2048, 8192], batch: [256, 1024, 4096], dSae768 } : { dSae: SCALING_D_SAE, batch: SCALING_BATCH, dSae768 };
}
