import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { BAD_CORPUS_DIR, type BadCase } from '../../scripts/make-bad-corpus';
import { writeNpy } from '../io/npy';
import { readSafetensors } from '../io/safetensors';
import { main, USAGE } from './main';
import { nodeCores } from './nodeBackend';
import { captureOutput } from './testing';

const capture = captureOutput;

describe('sae-workbench CLI', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });
  const dir = mkdtempSync(path.join(tmpdir(), 'saewb-'));
  const data = Float32Array.from({ length: 400 * 8 }, (_, i) => Math.sin(i * 0.7) + ((i * 13) % 5) / 5);
  writeFileSync(path.join(dir, 'acts.npy'), writeNpy(data, [400, 8]));
  writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ architecture: 'jumprelu', d_sae: 16, batch_size: 64 }));

  it('prints usage and exits non-zero on wrong or missing arguments', async () => {
    for (const argv of [[], ['train'], ['train', '--data', 'x.npy', '--config'], ['fly'], ['eval', '--sae', dir, '--data', 'x', '--bogus', '1']]) {
      const c = capture();
      const code = await main(argv);
      const { err } = c.done();
      expect(code).toBe(2);
      expect(err).toContain('Usage:');
    }
  });

  it('train writes the SAELens files, log and metrics; eval prints the same metrics', async () => {
    const out = path.join(dir, 'run');
    let c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'cfg.json'), '--out', out, '--steps', '30', '--seed', '3', '--backend', 'cpu'])).toBe(0);
    c.done();
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    for (const key of ['nmse', 'fve', 'l0', 'l0_fraction', 'dead_fraction', 'steps', 'tokens_per_s', 'backend']) expect(metrics).toHaveProperty(key);
    expect(metrics.steps).toBe(30);
    expect(metrics.backend).toBe('cpu');
    const cfg = JSON.parse(readFileSync(path.join(out, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({ architecture: 'jumprelu', d_in: 8, d_sae: 16 });
    const w = readFileSync(path.join(out, 'sae_weights.safetensors'));
    const { tensors } = readSafetensors(w.buffer.slice(w.byteOffset, w.byteOffset + w.length) as ArrayBuffer);
    expect(tensors.threshold.shape).toEqual([16]);
    expect(readFileSync(path.join(out, 'log.csv'), 'utf8').split('\n')[0]).toMatch(/^step,total_loss,recon_loss,sparsity_loss,sparsity_l0/);
    expect(JSON.parse(readFileSync(path.join(out, 'run_config.json'), 'utf8')).seed).toBe(3);

    c = capture();
    expect(await main(['eval', '--sae', out, '--data', path.join(dir, 'acts.npy'), '--backend', 'cpu'])).toBe(0);
    const evalOut = JSON.parse(c.done().out);
    expect(evalOut.l0_fraction).toBeCloseTo(evalOut.l0 / 16, 10);
    expect(evalOut.fve).toBeGreaterThan(-1);
  }, 120_000);

  it('trains on wasm threads with the same weights as on one thread; --threads 0 is refused', async () => {
    // Products large enough for XNNPACK to split them between threads.
    writeFileSync(path.join(dir, 'wide.json'), JSON.stringify({ architecture: 'jumprelu', d_sae: 512, batch_size: 256 }));
    const weightsOf = async (threads: string) => {
      const out = path.join(dir, `threads${threads}`);
      const c = capture();
      expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'wide.json'), '--out', out, '--steps', '20', '--seed', '5', '--backend', 'wasm', '--threads', threads])).toBe(0);
      const { err } = c.done();
      const w = readFileSync(path.join(out, 'sae_weights.safetensors'));
      const { tensors } = readSafetensors(w.buffer.slice(w.byteOffset, w.byteOffset + w.length) as ArrayBuffer);
      return { err, tensors, metrics: JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) };
    };
    const cores = Math.min(2, nodeCores());
    const two = await weightsOf('2'), one = await weightsOf('1');
    expect(two.err).toContain(`with wasm, ${cores} thread${cores === 1 ? '' : 's'}`);
    expect(one.err).toContain('with wasm, 1 thread');
    expect(two.metrics.backend).toBe('wasm');
    expect(two.metrics.nmse).toBe(one.metrics.nmse);
    for (const name of ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold']) expect(Array.from(two.tensors[name].data), name).toEqual(Array.from(one.tensors[name].data));

    const c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'no'), '--threads', '0'])).toBe(2);
    expect(c.done().err).toContain('--threads must be 1 or more, got "0"');
  }, 120_000);

  it('trains a multi-layer variant with guidance from a labels file, writes checkpoints, and eval takes the multi-layer file', async () => {
    // [3, 300, 8]: three "layers" of the same tokens; labels mark rows whose first layer's dim 0 is high.
    const L = 3, N = 300, d = 8;
    const layers = Float32Array.from({ length: L * N * d }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7) / 7));
    writeFileSync(path.join(dir, 'layers.npy'), writeNpy(layers, [L, N, d]));
    writeFileSync(path.join(dir, 'labels.csv'), 'label\n' + Array.from({ length: N }, (_, n) => (layers[n * d] > 0.5 ? 1 : 0)).join('\n') + '\n');
    writeFileSync(path.join(dir, 'route.json'), JSON.stringify({
      architecture: 'routesae', d_sae: 24, batch_size: 32, log_every: 5, checkpoint_every: 10, val_every: 10,
      guidance: [{ id: 'hi', latent: 2, method: 'contrastive', beta: 0.5, labels: { kind: 'file', name: 'labels.csv' } }],
    }));
    const out = path.join(dir, 'route');
    let c = capture();
    expect(await main(['train', '--data', path.join(dir, 'layers.npy'), '--labels', path.join(dir, 'labels.csv'), '--config', path.join(dir, 'route.json'), '--out', out, '--steps', '20', '--backend', 'cpu'])).toBe(0);
    c.done();
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.guidance[0]).toMatchObject({ id: 'hi', latent: 2 });
    expect(Number.isFinite(metrics.guidance[0].auroc)).toBe(true);
    const cfg = JSON.parse(readFileSync(path.join(out, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({ architecture: 'routesae', d_in: 8, d_sae: 24, n_layers: 3, routing: 'hard' });
    const log = readFileSync(path.join(out, 'log.csv'), 'utf8').split('\n')[0].split(',');
    expect(log).toEqual(expect.arrayContaining(['guidance_hi_loss', 'guidance_hi_pos', 'route_share_0', 'route_share_1', 'route_share_2']));
    for (const step of ['000010', '000020']) {
      const cp = readFileSync(path.join(out, 'checkpoints', `step_${step}`, 'cfg.json'), 'utf8');
      expect(JSON.parse(cp).architecture).toBe('routesae');
    }
    c = capture();
    expect(await main(['eval', '--sae', out, '--data', path.join(dir, 'layers.npy'), '--backend', 'cpu'])).toBe(0);
    const evalOut = JSON.parse(c.done().out);
    expect(evalOut.l0).toBeGreaterThan(0);
  }, 120_000);

  it('reports a labels file whose row count differs from the activations, and exits 1', async () => {
    writeFileSync(path.join(dir, 'short.csv'), '1\n0\n1\n');
    const c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--labels', path.join(dir, 'short.csv'), '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'r3'), '--backend', 'cpu'])).toBe(1);
    expect(c.done().err).toMatch(/short\.csv has 3 values but the activations have 400 rows/);
  });

  it('reports a corrupt data file clearly and exits 1', async () => {
    writeFileSync(path.join(dir, 'bad.npy'), Buffer.from('not numpy at all'));
    const c = capture();
    expect(await main(['train', '--data', path.join(dir, 'bad.npy'), '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'r2'), '--backend', 'cpu'])).toBe(1);
    expect(c.done().err).toMatch(/bad\.npy is not a NumPy \.npy file/);
  });
});

// Every entry of the bad-file corpus (fixtures/bad/, scripts/make-bad-corpus.ts) given to the CLI
// the way its manifest says (--data, --tokens, --labels, --vocab, --config, --init-from, --lm, …):
// exit code 1, the entry's message on stderr without a stack trace, and no output directory.
describe('sae-workbench CLI on the bad-file corpus', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });
  const manifest: BadCase[] = JSON.parse(readFileSync(path.join(BAD_CORPUS_DIR, 'manifest.json'), 'utf8'));
  const work = mkdtempSync(path.join(tmpdir(), 'saewb-bad-'));
  const corpus = (name: string) => path.join(BAD_CORPUS_DIR, name);
  /** A zip of the corpus unpacked into a directory named after it (an SAE directory for --init-from / --sae). */
  const unpacked = (zipName: string) => {
    const dir = path.join(work, zipName.replace(/\.zip$/, ''));
    if (!existsSync(dir)) {
      mkdirSync(dir);
      for (const [name, bytes] of Object.entries(unzipSync(readFileSync(corpus(zipName))))) writeFileSync(path.join(dir, name), bytes);
    }
    return dir;
  };
  const argsOf = (c: BadCase, out: string) => {
    const args = c.cli!.map((a) => (a === '@file' ? corpus(c.file) : a.startsWith('@dir:') ? unpacked(a.slice(5)) : a.startsWith('@') ? corpus(a.slice(1)) : a));
    if (args[0] === 'train') {
      if (!args.includes('--config')) args.push('--config', corpus('companion-config.json'));
      args.push('--out', out, '--steps', '2');
    }
    return [...args, '--backend', 'cpu'];
  };

  for (const c of manifest.filter((m) => m.kind !== 'companion')) {
    it(`${c.cli![0]} ${c.cli!.slice(1).join(' ').replace('@file', c.file)}: ${c.what}`, async () => {
      const out = path.join(work, `out-${c.file}`);
      const cap = capture();
      const code = await main(argsOf(c, out));
      const { err, out: stdout } = cap.done();
      expect(code, err).toBe(1);
      expect(err).toMatch(new RegExp(c.cliExpect ?? c.expect!));
      expect(err).toMatch(/^error: /m);
      expect(err, 'a stack trace').not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(err).not.toContain('Usage:');
      expect(stdout).toBe('');
      expect(existsSync(out), `${out} was written`).toBe(false);
    });
  }

  it('--exclude-nonfinite trains without the NaN rows (companions filtered); without it the count and the flag are named', async () => {
    const out = path.join(work, 'nan-excluded');
    const base = ['train', '--data', corpus('npy-nan-rows.npy'), '--tokens', corpus('companion-tokens.npy'), '--labels', corpus('companion-labels.csv'),
      '--config', corpus('companion-config.json'), '--out', out, '--steps', '3', '--backend', 'cpu'];
    let c = capture();
    expect(await main(base)).toBe(1);
    expect(c.done().err).toMatch(/npy-nan-rows\.npy: 2 rows \(rows 2, 11\) contain NaN or Inf\. .*--exclude-nonfinite in the CLI/);
    expect(existsSync(out)).toBe(false);

    c = capture();
    const code = await main([...base, '--exclude-nonfinite']);
    const { err } = c.done();
    expect(code, err).toBe(0);
    expect(err).toMatch(/loaded npy-nan-rows\.npy: 14 × 8 float32 — 2 rows with NaN or Inf left out \(file rows 2, 11\); companion files of 16 rows are filtered to the 14 kept/);
    expect(err).toMatch(/loaded token ids companion-tokens\.npy: 14 ids/);
    expect(err).toMatch(/loaded labels companion-labels\.csv: 14 rows/);
    const [, train, val] = /on (\d+) rows \((\d+) validation\)/.exec(err)!;
    expect(Number(train) + Number(val)).toBe(14);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.steps).toBe(3);
    expect(Number.isFinite(metrics.nmse)).toBe(true);
  }, 60_000);

  it('eval --exclude-nonfinite evaluates an SAE on the finite rows only', async () => {
    const sae = unpacked('companion-sae.zip');
    let c = capture();
    expect(await main(['eval', '--sae', sae, '--data', corpus('npy-inf-rows.npy'), '--backend', 'cpu'])).toBe(1);
    expect(c.done().err).toMatch(/npy-inf-rows\.npy: 2 rows \(rows 5, 9\) contain NaN or Inf/);
    c = capture();
    const code = await main(['eval', '--sae', sae, '--data', corpus('npy-inf-rows.npy'), '--exclude-nonfinite', '--backend', 'cpu']);
    const { out, err } = c.done();
    expect(code, err).toBe(0);
    const metrics = JSON.parse(out);
    expect(Number.isFinite(metrics.nmse)).toBe(true);
    expect(Number.isFinite(metrics.l0)).toBe(true);
    // An exported zip is read like its directory.
    c = capture();
    expect(await main(['eval', '--sae', corpus('companion-sae.zip'), '--data', corpus('companion-activations.npy'), '--backend', 'cpu'])).toBe(0);
    expect(Number.isFinite(JSON.parse(c.done().out).nmse)).toBe(true);
  }, 60_000);

  it('reads a companion as what its flag says: 0/1 labels saved as int32 are labels, not token ids', async () => {
    const y = path.join(work, 'y.npy');
    writeFileSync(y, writeNpy(Int32Array.from({ length: 16 }, (_, i) => i % 2), [16]));
    const c = capture();
    const code = await main(['train', '--data', corpus('companion-activations.npy'), '--labels', y, '--config', corpus('companion-config.json'), '--out', path.join(work, 'int-labels'), '--steps', '1', '--backend', 'cpu']);
    const { err } = c.done();
    expect(code, err).toBe(0);
    expect(err).toMatch(/loaded labels y\.npy: 16 rows, 50\.0% positive/);
  }, 60_000);

  it('documents --exclude-nonfinite, which takes no value', async () => {
    expect(USAGE).toMatch(/--exclude-nonfinite/);
    const c = capture();
    expect(await main(['train', '--exclude-nonfinite', '--data', corpus('npy-nan-rows.npy'), '--config', corpus('companion-config.json'), '--out', path.join(work, 'x'), '--steps', '1', '--backend', 'cpu'])).toBe(0);
    c.done();
  }, 60_000);
});
