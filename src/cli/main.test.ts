import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
    // What an evaluation measured, without the fields only a training run has.
    for (const key of ['nmse', 'fve', 'nmse_per_token', 'l0', 'l0_fraction', 'dead_fraction', 'backend']) expect(evalOut).toHaveProperty(key);
    for (const key of ['steps', 'tokens_per_s', 'early_stopped_at']) expect(evalOut).not.toHaveProperty(key);
  }, 120_000);

  it('a diverging run is rolled back to its last healthy step, written to --out, and fails naming a learning rate to try', async () => {
    const out = path.join(dir, 'diverged');
    writeFileSync(path.join(dir, 'hot.json'), JSON.stringify({ architecture: 'relu', d_sae: 16, batch_size: 64, lr: 3, steps: 300, log_every: 5 }));
    const c = capture();
    const code = await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'hot.json'), '--out', out, '--backend', 'cpu']);
    const { err, out: stdout } = c.done();
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const m = /error: training diverged at step ([\d,]+) \((.+)\)\. The weights of step (\d+) are written to (.+)\. Lower lr in .*hot\.json \(now 3\.00; try 0\.30\) and train again, or go on from them with --init-from /.exec(err);
    expect(m, err).not.toBeNull();
    const healthy = Number(m![3]);
    expect(healthy).toBeLessThan(Number(m![1].replace(/,/g, '')));
    // What is written is the healthy state: its log ends at that step and its metrics count its steps.
    const steps = readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]));
    expect(steps.every((s) => s <= healthy)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')).steps).toBe(healthy);
    expect(existsSync(path.join(out, 'sae_weights.safetensors'))).toBe(true);
  }, 120_000);

  it('refuses a run too large for the backend before allocating it, with the figure and what fits', async () => {
    // d_in 8 × d_sae 100,000,000: hundreds of GiB in all, beyond any backend.
    writeFileSync(path.join(dir, 'huge.json'), JSON.stringify({ architecture: 'relu', d_sae: 100_000_000, batch_size: 64 }));
    for (const backend of ['cpu', 'wasm']) {
      const c = capture();
      const code = await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'huge.json'), '--out', path.join(dir, `huge-${backend}`), '--backend', backend]);
      const { err } = c.done();
      expect(code).toBe(1);
      expect(err).toMatch(new RegExp(`d_sae 100,000,000 × d_in 8 \\(relu, batch 64\\) needs about [\\d.]+ GiB on ${backend}, (more than|but its largest tensor).*; the largest d_sae that fits is [\\d,]+.* Set a smaller d_sae or batch_size in .*huge\\.json\\.`));
      expect(existsSync(path.join(dir, `huge-${backend}`, 'sae_weights.safetensors'))).toBe(false);
    }
  }, 60_000);

  it('--splice-every needs the model (--lm) and a positive step count', async () => {
    for (const [argv, message] of [
      [['--data', path.join(dir, 'acts.npy'), '--splice-every', '10'], '--splice-every does nothing without --lm'],
      [['--lm', 'm.bin', '--tokenizer', 't.bin', '--text', 'a.txt', '--layer', '1', '--splice-every', '0'], '--splice-every must be a positive integer, got "0"'],
    ] as [string[], string][]) {
      const c = capture();
      expect(await main(['train', ...argv, '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'never')])).toBe(2);
      expect(c.done().err).toContain(message);
    }
  });

  it('checks every option and the config before reading the data', async () => {
    // The data file does not exist: an option or config problem must be what is reported.
    const missing = path.join(dir, 'not-there.npy');
    writeFileSync(path.join(dir, 'typo.json'), JSON.stringify({ architecture: 'topk', d_sae: 16, k: 4, lr_warmpu_steps: 10 }));
    writeFileSync(path.join(dir, 'big-k.json'), JSON.stringify({ architecture: 'topk', d_sae: 16, k: 40 }));
    writeFileSync(path.join(dir, 'not-object.json'), '[1, 2]');
    const full = path.join(dir, 'full');
    mkdirSync(full, { recursive: true });
    writeFileSync(path.join(full, 'notes.txt'), 'keep me');
    const train = (...extra: string[]) => ['train', '--data', missing, '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'never'), ...extra];
    const cases: [string[], number, RegExp][] = [
      [train('--steps', 'abc'), 2, /--steps must be a positive integer, got "abc"/],
      [train('--steps', '0'), 2, /--steps must be a positive integer, got "0"/],
      [train('--steps', ''), 2, /--steps must be a positive integer, got ""/],
      [train('--seed', '1.5'), 2, /--seed must be an integer, got "1\.5"/],
      [train('--threads', 'many'), 2, /--threads must be a positive integer, got "many"/],
      [train('--backend', 'gpu'), 2, /--backend must be wasm, cpu, webgpu or auto, got "gpu"/],
      [train('--shape', '100'), 2, /--shape must be N,d or L,N,d/],
      [train('--dtype', 'int8'), 2, /--dtype must be float32 or float16, got "int8"/],
      [train('--memory-budget', 'lots'), 2, /--memory-budget must be a size such as 1GiB or 512MiB, got "lots"/],
      [train('--step', '10'), 2, /unknown option --step for train; did you mean --steps\?/],
      [train('--steps', '10', '--steps', '20'), 2, /--steps is given twice; give it once/],
      [train('--layer', '2'), 2, /--layer does nothing without --lm; leave it out/],
      [['train', '--data', missing, '--config', path.join(dir, 'typo.json'), '--out', path.join(dir, 'never')], 1, /typo\.json: unknown config key "lr_warmpu_steps"/],
      [['train', '--data', missing, '--config', path.join(dir, 'big-k.json'), '--out', path.join(dir, 'never')], 1, /big-k\.json: k = 40 is larger than d_sae = 16; choose k ≤ d_sae/],
      [['train', '--data', missing, '--config', path.join(dir, 'not-object.json'), '--out', path.join(dir, 'never')], 1, /not-object\.json: the config must be a JSON object/],
      [['train', '--data', missing, '--config', path.join(dir, 'cfg.json'), '--out', full], 1, /--out .*full is not empty .*notes\.txt.*; give a new or empty folder, or add --force/],
      [['train', '--lm', missing, '--tokenizer', missing, '--text', missing, '--layer', '0', '--labels', missing, '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'never')], 2, /--labels does nothing with --lm/],
      [['eval', '--sae', path.join(dir, 'no-sae'), '--data', missing, '--backend', 'gpu'], 2, /--backend must be wasm, cpu, webgpu or auto/],
      [['eval', '--sae', path.join(dir, 'no-sae'), '--data', missing, '--text', missing], 2, /--text does nothing without --lm/],
      [['eval', '--sae', path.join(dir, 'no-sae'), '--lm', missing, '--data', missing], 2, /--text is needed with --lm \(a Hugging Face model folder or a llama2\.c \.bin with --tokenizer, and a \.txt\)/],
      [['eval', '--sae', path.join(dir, 'no-sae'), '--lm', missing, '--tokenizer', missing, '--text', missing, '--shape', '4,8'], 2, /--shape does nothing without --data/],
      [['activations', '--lm', missing, '--tokenizer', missing, '--text', missing, '--layer', '0', '--out', full], 1, /full is not empty/],
      [['activations', '--lm', missing, '--tokenizer', missing, '--text', missing, '--layer', '0', '--out', path.join(dir, 'never'), '--include-bos', 'true'], 2, /--include-bos must be yes or no, got "true"/],
    ];
    for (const [argv, expectedCode, message] of cases) {
      const c = capture();
      const code = await main(argv);
      const { err } = c.done();
      expect(err, argv.join(' ')).toMatch(message);
      expect(err, argv.join(' ')).not.toMatch(/not-there|no-sae/);
      expect(code, argv.join(' ')).toBe(expectedCode);
    }
    expect(existsSync(path.join(dir, 'never'))).toBe(false);
    expect(readFileSync(path.join(full, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('leaves config problems that depend on the data to after it loads', async () => {
    // Prefixes ending at d_sae = 16 = expansion 2 × d_in 8: valid for this file only, so not refused before it loads.
    writeFileSync(path.join(dir, 'matryoshka.json'), JSON.stringify({ architecture: 'matryoshka', expansion_factor: 2, matryoshka_prefixes: [4, 8, 16], k: 2, batch_size: 32 }));
    // A multi-layer variant: refused only once the file turns out to have one layer.
    writeFileSync(path.join(dir, 'route1.json'), JSON.stringify({ architecture: 'routesae', d_sae: 16, k: 2 }));
    let c = capture();
    expect(await main(['train', '--data', path.join(dir, 'not-there.npy'), '--config', path.join(dir, 'matryoshka.json'), '--out', path.join(dir, 'never')])).toBe(1);
    expect(c.done().err).toMatch(/cannot open .*not-there\.npy: ENOENT/);
    c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'matryoshka.json'), '--out', path.join(dir, 'matryoshka'), '--steps', '2', '--backend', 'cpu'])).toBe(0);
    c.done();
    expect(JSON.parse(readFileSync(path.join(dir, 'matryoshka', 'cfg.json'), 'utf8')).d_sae).toBe(16);
    c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'route1.json'), '--out', path.join(dir, 'never'), '--backend', 'cpu'])).toBe(1);
    expect(c.done().err).toMatch(/route1\.json: routesae needs activations of several layers/);
  }, 60_000);

  it('writes into a non-empty --out folder only with --force', async () => {
    const out = path.join(dir, 'again');
    const argv = ['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'cfg.json'), '--out', out, '--steps', '3', '--backend', 'cpu'];
    let c = capture();
    expect(await main(argv)).toBe(0);
    c.done();
    const firstWeights = readFileSync(path.join(out, 'sae_weights.safetensors'));
    c = capture();
    expect(await main([...argv, '--seed', '9'])).toBe(1);
    const { err, out: stdout } = c.done();
    expect(err).toContain(`--out ${out} is not empty`);
    expect(err).toContain('--force');
    expect(stdout).toBe('');
    expect(readFileSync(path.join(out, 'sae_weights.safetensors')).equals(firstWeights)).toBe(true);
    c = capture();
    expect(await main([...argv, '--seed', '9', '--force'])).toBe(0);
    c.done();
    expect(readFileSync(path.join(out, 'sae_weights.safetensors')).equals(firstWeights)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(out, 'run_config.json'), 'utf8')).seed).toBe(9);
    // A file where the folder should be.
    c = capture();
    expect(await main(['train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'acts.npy')])).toBe(1);
    expect(c.done().err).toContain(`--out ${path.join(dir, 'acts.npy')} is a file; give a folder`);
  }, 60_000);

  it('run as `sae-workbench` on cpu, prints no tfjs banner: only what the command reports', () => {
    const run = spawnSync(process.execPath, ['bin/sae-workbench.js', 'train', '--data', path.join(dir, 'acts.npy'), '--config', path.join(dir, 'cfg.json'),
      '--out', path.join(dir, 'spawned'), '--steps', '2', '--backend', 'cpu'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 60_000 });
    expect(run.error).toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/TensorFlow\.js in Node\.js|tfjs-node|====/);
    expect(run.stderr).toMatch(/^loaded acts\.npy: 400 × 8 float32$/m);
    expect(JSON.parse(run.stdout).steps).toBe(2);
  }, 60_000);

  it('prints the package version for --version and -v, and usage for a command\'s --help', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    for (const flag of ['--version', '-v']) {
      const c = capture();
      expect(await main([flag])).toBe(0);
      expect(c.done().out).toBe(`${version}\n`);
    }
    const c = capture();
    expect(await main(['train', '--help'])).toBe(0);
    expect(c.done().out).toContain('Usage:');
    expect(USAGE).toMatch(/--version/);
    expect(USAGE).toMatch(/--force/);
  });

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
    expect(c.done().err).toContain('--threads must be a positive integer, got "0"');
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

  it('eval on a model prints the splice figures and the reconstruction metrics, without training-only fields', async () => {
    const lm = ['--lm', corpus('companion-model.bin'), '--tokenizer', corpus('companion-tokenizer.bin'), '--text', corpus('companion-text.txt'), '--layer', '0', '--backend', 'cpu'];
    const out = path.join(work, 'lm-sae');
    let c = capture();
    expect(await main(['train', ...lm, '--config', corpus('companion-config.json'), '--out', out, '--steps', '2'])).toBe(0);
    c.done();
    c = capture();
    const code = await main(['eval', '--sae', out, ...lm]);
    const { out: stdout, err } = c.done();
    expect(code, err).toBe(0);
    const report = JSON.parse(stdout);
    expect(Number.isFinite(report.ce_clean)).toBe(true);
    expect(Number.isFinite(report.groups[0].loss_recovered)).toBe(true);
    expect(Number.isFinite(report.reconstruction.nmse)).toBe(true);
    for (const key of ['steps', 'tokens_per_s', 'early_stopped_at']) {
      expect(report.reconstruction).not.toHaveProperty(key);
      expect(report).not.toHaveProperty(key);
    }
  }, 60_000);

  it('documents --exclude-nonfinite, which takes no value', async () => {
    expect(USAGE).toMatch(/--exclude-nonfinite/);
    const c = capture();
    expect(await main(['train', '--exclude-nonfinite', '--data', corpus('npy-nan-rows.npy'), '--config', corpus('companion-config.json'), '--out', path.join(work, 'x'), '--steps', '1', '--backend', 'cpu'])).toBe(0);
    c.done();
  }, 60_000);
});
