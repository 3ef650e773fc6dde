// `npm run bench:stream`: training on a file larger than the memory budget, streamed from disk,
// against the in-memory path on the same kind of data. Generates a float32 .npy of --size-gib
// (default 3 GiB) once, then runs each path in its own Node process (so that peak resident memory
// is each path's own) and prints tokens/s and peak RSS of both. Not part of the tests.
//   npm run bench:stream -- [--size-gib 3] [--d 256] [--budget 1GiB] [--steps 200] [--dir /tmp]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '../src/engine/config';
import { Trainer } from '../src/engine/trainer';
import { trainingDataFor } from '../src/data/trainingData';
import { Workspace } from '../src/data/workspace';
import { writeNpy } from '../src/io/npy';
import { selectNodeBackend } from '../src/cli/nodeBackend';
import { parseSize } from '../src/cli/flags';

interface Args { sizeGiB: number; d: number; budget: string; steps: number; dir: string; child?: 'stream' | 'memory'; file?: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { sizeGiB: 3, d: 256, budget: '1GiB', steps: 200, dir: '/tmp' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--size-gib') a.sizeGiB = Number(v);
    else if (k === '--d') a.d = Number(v);
    else if (k === '--budget') a.budget = v;
    else if (k === '--steps') a.steps = Number(v);
    else if (k === '--dir') a.dir = v;
    else if (k === '--child') a.child = v as Args['child'];
    else if (k === '--file') a.file = v;
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

/**
 * An .npy of `rows` × d float32 rows: sparse sums of 512 fixed random directions plus noise, written
 * in 64 MiB pieces (the generator itself never holds the file).
 */
function generate(file: string, rows: number, d: number): void {
  if (existsSync(file) && statSync(file).size > rows * d * 4) return;
  mkdirSync(path.dirname(file), { recursive: true });
  let s = 12345;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const nF = 512;
  const dict = Float32Array.from({ length: nF * d }, () => rand() - 0.5);
  const header = writeNpy(new Float32Array(0), [rows, d]);
  const fd = openSync(file, 'w');
  writeSync(fd, header);
  const chunkRows = Math.floor((64 * 2 ** 20) / (d * 4));
  const t0 = Date.now();
  for (let start = 0; start < rows; start += chunkRows) {
    const n = Math.min(chunkRows, rows - start);
    const out = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      for (let a = 0; a < 4; a++) {
        const f = Math.floor(rand() * nF), c = 1 + 2 * rand();
        for (let j = 0; j < d; j++) out[r * d + j] += c * dict[f * d + j];
      }
      for (let j = 0; j < d; j++) out[r * d + j] += 0.05 * (rand() - 0.5);
    }
    writeSync(fd, new Uint8Array(out.buffer));
    if (start % (chunkRows * 8) === 0) process.stderr.write(`\rgenerating ${file}: ${Math.round((100 * start) / rows)}%`);
  }
  closeSync(fd);
  process.stderr.write(`\rgenerated ${file} (${(statSync(file).size / 2 ** 30).toFixed(2)} GiB) in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

async function child(a: Args): Promise<void> {
  const { backend } = await selectNodeBackend('wasm');
  const ws = new Workspace();
  const t0 = performance.now();
  const { results } = await ws.loadFiles([{ name: path.basename(a.file!), blob: await openAsBlob(a.file!) }], { memoryBudgetBytes: parseSize(a.budget) });
  const loadSeconds = (performance.now() - t0) / 1000;
  const bad = results.find((r) => r.kind === 'error');
  if (bad) throw new Error(bad.message);
  const ds = ws.dataset!;
  const cfg = resolveConfig({ architecture: 'topk', d_sae: 4 * a.d, k: 32, batch_size: 1024, steps: a.steps, log_every: 50 }, ds.dIn);
  const data = await trainingDataFor(ws, cfg);
  const trainer = new Trainer(cfg, data, backend);
  await trainer.runSteps(10); // warm-up (kernels, first chunk reads)
  const s0 = trainer.trainingSeconds;
  await trainer.runSteps(a.steps - 10);
  const seconds = trainer.trainingSeconds - s0;
  const { metrics } = await trainer.evaluate();
  trainer.dispose();
  const result = {
    path: a.child, file: a.file, bytes: statSync(a.file!).size, rows: ds.rows, d: ds.dIn, streamed: data.stream !== undefined,
    tokensPerS: ((a.steps - 10) * cfg.batch_size) / seconds, loadSeconds, fve: metrics.fve,
    peakRssMiB: process.resourceUsage().maxRSS / 1024, budgetMiB: parseSize(a.budget) / 2 ** 20,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (a.child) { await child(a); return 0; }
  const bigRows = Math.floor((a.sizeGiB * 2 ** 30) / (a.d * 4));
  const smallRows = Math.floor((0.25 * parseSize(a.budget)) / (a.d * 4));
  const big = path.join(a.dir, `saewb-stream-${a.sizeGiB}gib-d${a.d}.npy`);
  const small = path.join(a.dir, `saewb-memory-d${a.d}-${smallRows}.npy`);
  generate(big, bigRows, a.d);
  generate(small, smallRows, a.d);
  const runs = [];
  for (const [mode, file] of [['memory', small], ['stream', big]] as const) {
    process.stderr.write(`${mode}: training ${a.steps} steps on ${file}…\n`);
    const p = spawnSync(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'bench-stream.js'), '--child', mode, '--file', file, '--budget', a.budget, '--steps', String(a.steps), '--d', String(a.d)], { encoding: 'utf8', maxBuffer: 2 ** 24 });
    if (p.status !== 0) throw new Error(`${mode} run failed:\n${p.stderr}`);
    runs.push(JSON.parse(p.stdout.trim().split('\n').pop()!));
  }
  const [mem, str] = runs;
  console.log(`\n| path | file | rows × d | streamed | load / index s | tokens/s | peak RSS MiB | FVE |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs) console.log(`| ${r.path} | ${(r.bytes / 2 ** 30).toFixed(2)} GiB | ${r.rows.toLocaleString('en-US')} × ${r.d} | ${r.streamed} | ${r.loadSeconds.toFixed(1)} | ${Math.round(r.tokensPerS)} | ${Math.round(r.peakRssMiB)} | ${r.fve.toFixed(3)} |`);
  console.log(`\nstreamed throughput = ${((100 * str.tokensPerS) / mem.tokensPerS).toFixed(1)}% of in-memory; streamed peak RSS ${Math.round(str.peakRssMiB)} MiB for a ${(str.bytes / 2 ** 30).toFixed(2)} GiB file with a ${Math.round(str.budgetMiB)} MiB budget`);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/stream.json', JSON.stringify({ runs, ratio: str.tokensPerS / mem.tokensPerS }, null, 2) + '\n');
  return 0;
}
