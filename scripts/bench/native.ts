// The NumPy reference of `npm run bench`: scripts/bench/native_step.py, run as a child process.
// It times the same training step per variant and size, the scaling sweep and the machine's sgemm
// ceiling, first in the run, while nothing else of the bench's own is running.
import { spawn, spawnSync } from 'node:child_process';
import { scalingLists, type Options } from './options';
import { fmt, log, type NativeReport, type Row, type Skip } from './results';

const NATIVE_SCRIPT = 'scripts/bench/native_step.py';

/**
 * The reference's environment: this machine's sets OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE), which
 * pins OpenBLAS to older kernels (Haswell's AVX2 instead of AVX-512); the reference runs the kernels
 * OpenBLAS picks for the CPU (native_step.py prints which: info.blasCore).
 */
export function nativeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function numpyMissing(): string | null {
  const r = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return `python3 is not available (${r.error.message})`;
  if (r.status !== 0) return `python3 has no numpy (${(r.stderr || '').trim().split('\n').pop()})`;
  return null;
}

/** The sgemm ceiling with one BLAS thread (what a single-threaded backend could reach at best). */
function singleThreadSgemm(): { ceilingGflops: number; square1024Gflops: number } | null {
  const env = nativeEnv({ OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' });
  const r = spawnSync('python3', [NATIVE_SCRIPT, '--sgemm', '--json', '--sizes', 'small'], { encoding: 'utf8', env, timeout: 120_000 });
  if (r.status !== 0) return null;
  try { return (JSON.parse(r.stdout) as NativeReport).sgemm; } catch { return null; }
}

function runNative(opts: Options): Promise<NativeReport> {
  const args = [NATIVE_SCRIPT, '--json', '--sizes', opts.sizes.join(','), '--variants', opts.variants.join(','), '--target-seconds', String(Math.max(0.5, opts.targetMs / 1000 * 0.7))];
  if (opts.scaling) args.push('--scaling', '--scaling-d-sae', scalingLists(opts).dSae.join(','), '--scaling-batch', scalingLists(opts).batch.join(','), '--scaling-768', scalingLists(opts).dSae768.join(','));
  return new Promise((resolve, reject) => {
    const p = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env: nativeEnv() });
    let out = '', err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) log(l);
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) { reject(new Error(`native_step.py exited ${code}: ${err}`)); return; }
      try { resolve(JSON.parse(out) as NativeReport); } catch (e) { reject(e); }
    });
  });
}

/** The reference when asked for and possible; otherwise null and a skip saying why. */
export async function nativeReference(opts: Options, skips: Skip[]): Promise<NativeReport | null> {
  let native: NativeReport | null = null;
  if (opts.native) {
    const missing = numpyMissing();
    if (missing) {
      skips.push({ where: 'native', backend: 'numpy', reason: `native reference skipped: ${missing}` });
      log(`native reference skipped: ${missing}`);
    } else {
      try {
        native = await runNative(opts);
        const one = singleThreadSgemm();
        if (one) native.sgemm1 = one;
        log(`sgemm with one BLAS thread: ${fmt(one?.ceilingGflops)} GFLOP/s`);
      } catch (e) {
        const reason = `native reference failed: ${e instanceof Error ? e.message : String(e)}`;
        skips.push({ where: 'native', backend: 'numpy', reason });
        log(reason);
      }
    }
  } else {
    skips.push({ where: 'native', backend: 'numpy', reason: 'native reference skipped (--no-native)' });
  }
  return native;
}

/** The reference's rows in the main table (its tokens/s are what the other rows' "× native" divide by). */
export function nativeRows(native: NativeReport): Row[] {
  const backend = `numpy ${native.info.numpy ?? ''} (${String(native.info.blas ?? 'BLAS')}${native.info.blasCore ? `, ${String(native.info.blasCore)} kernels` : ''})`;
  const row = (n: NativeReport['rows'][number], sparse: boolean): Row => ({ where: 'native', backend: sparse ? `${backend}, sparse TopK step` : backend, size: n.size, architecture: n.variant, label: n.label ?? n.variant, k: n.k ?? undefined, sparse, dIn: n.dIn, dSae: n.dSae, batch: n.batch, tokensPerS: n.tokensPerS, msPerStep: n.msPerStep, meanMsPerStep: n.meanMsPerStep, steps: n.steps });
  return [...native.rows.map((n) => row(n, false)), ...(native.sparseRows ?? []).map((n) => row(n, true))];
}
