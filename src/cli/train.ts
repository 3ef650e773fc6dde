// `sae-workbench train`: a run on files, driven by the same RunSession as the app's worker
// (src/run/session.ts), so it rolls back on divergence and writes checkpoints the same way.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkConfigBeforeData, resolveConfig, type ConfigInput } from '../engine/config';
import { limitsOfBackend, refusal } from '../engine/memoryBudget';
import { Trainer } from '../engine/trainer';
import type { MetricRow } from '../engine/types';
import { trainingDataFor } from '../data/trainingData';
import type { Workspace, RoleHint } from '../data/workspace';
import { RunSession } from '../run/session';
import { COMPANION_OPTIONS, DATA_OPTIONS, intFlag, refuseUnused, requireModelFlags, sitesFlag, UsageError, type Flags } from './flags';
import type { StartedBackend } from './backendChoice';
import { checkOptionsAndBackend, checkOutDir, extractToWorkspace, loadLanguageModel, loadWorkspace, named, progress, readJson, readSaeDirectory, saeWork, startBackend } from './inputs';

export async function train(flags: Flags): Promise<number> {
  const companions: [string, RoleHint][] = [
    ...([[flags.tokens, 'tokens'], [flags.vocab, 'vocab'], [flags['doc-ids'], 'doc_ids'], [flags.positions, 'positions']] as [string | undefined, RoleHint][]),
    ...(flags.labels?.split(',') ?? []).map((f): [string, RoleHint] => [f, 'labels']),
  ].filter((c): c is [string, RoleHint] => Boolean(c[0]));
  // Everything that does not need the activations is checked before they load.
  if (flags.lm) {
    if (flags.data) throw new UsageError('give either --data or --lm/--tokenizer/--text, not both');
    requireModelFlags(flags);
    if (!flags.layer && !flags.hook) throw new UsageError('--layer or --hook is needed with --lm: the residual layer(s) or hooks to train on');
    refuseUnused(flags, [...COMPANION_OPTIONS, ...DATA_OPTIONS], 'with --lm (the model gives the activations, tokens and document ids)');
  } else {
    if (!flags.data) throw new UsageError('missing --data (or --lm, --tokenizer, --text and --layer)');
    refuseUnused(flags, ['tokenizer', 'text', 'layer', 'hook', 'splice-every'], 'without --lm');
  }
  await checkOptionsAndBackend(flags);
  await checkOutDir(flags);
  const steps = intFlag(flags, 'steps');
  const spliceEvery = intFlag(flags, 'splice-every', 1);
  const seed = intFlag(flags, 'seed');
  const json = (await readJson(flags.config, 'config')) as ConfigInput;
  // A config that is not a JSON object is left as it is, for resolveConfig to say so.
  const input = typeof json === 'object' && json !== null && !Array.isArray(json)
    ? { ...json, ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}) }
    : json;
  named(flags.config, () => checkConfigBeforeData(input));
  const initFrom = flags['init-from'] ? await readSaeDirectory(flags['init-from']) : null;

  let workspace: Workspace;
  let started: StartedBackend | null = null;
  if (flags.lm) {
    const loaded = await loadLanguageModel(flags);
    workspace = loaded.workspace;
    // The model runs on the backend the SAE will train on: auto times the SAE's step at the
    // model's width (every hook the CLI records is a residual-width site).
    const dim = workspace.lm!.checkpoint.config.dim;
    const sites = sitesFlag(flags)!;
    started = await startBackend(flags, saeWork(named(flags.config, () => resolveConfig(input, dim, sites.length)), dim, sites.length));
    await extractToWorkspace(workspace, loaded.text, sites);
  } else {
    workspace = await loadWorkspace(flags, companions);
  }
  const full = workspace.dataset!;
  const cfg = named(flags.config, () => resolveConfig(input, full.dIn, full.nLayers));
  const guidance = workspace.resolveGuidance(cfg.guidance);
  if (initFrom && initFrom.info.dIn !== full.dIn) {
    throw new Error(`the SAE ${flags['init-from']} takes d_in ${initFrom.info.dIn} but ${full.name} has rows of width ${full.dIn}; continue training on activations of the layer it was trained on.`);
  }
  const { backend, label, adapter } = started ?? await startBackend(flags, saeWork(cfg, full.dIn, full.nLayers));
  // A run too large for the backend is refused before anything is allocated, as the page does.
  const tooBig = refusal(cfg, full.dIn, limitsOfBackend(backend, tf.backend(), tf.env()), { autosave: false });
  if (tooBig) throw new Error(`${tooBig} Set a smaller d_sae or batch_size in ${flags.config}.`);
  const data = await trainingDataFor(workspace, cfg, { onProgress: (label, done, total) => progress(`${label}: ${Math.round((100 * done) / Math.max(1, total))}%`) });
  const trainer = new Trainer(cfg, data, backend);
  if (initFrom) trainer.loadTensors(initFrom.tensors);
  if (guidance.length) trainer.setGuidance(guidance);
  const layers = data.nLayers! > 1 ? ` × ${data.nLayers} layers` : '';
  const trainRows = data.stream ? data.stream.trainRows : data.trainRows;
  process.stderr.write(`training ${cfg.architecture} d_in ${data.dIn}${layers} → d_sae ${cfg.d_sae} on ${trainRows} rows (${data.valRows} validation)${data.stream ? ', streamed from the file' : ''} with ${label}${initFrom ? `, starting from ${flags['init-from']}` : ''}\n`);
  const out = flags.out;
  let last: MetricRow | undefined;
  let lastPrint = 0;
  let printedStep = -1;
  let trouble: string | null = null;
  const session = new RunSession({
    id: 'cli',
    trainer,
    workspace,
    // Reports (progress lines, checkpoints) about once a second; nothing else waits on the loop.
    sliceMs: 1000,
    yieldBetweenSlices: () => new Promise((resolve) => setImmediate(resolve)),
    lmEvalEvery: spliceEvery,
    // Checkpoints go to disk as they are taken; memory keeps only the newest.
    maxCheckpoints: 1,
    events: {
      metrics: (rows, events) => {
        last = rows[rows.length - 1] ?? last;
        for (const e of events) if (e.note) process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}step ${e.step}: ${e.note}\n`);
      },
      status: ({ step, totalSteps }) => {
        if (!last || step === printedStep || (Date.now() - lastPrint < 2000 && step < totalSteps)) return;
        lastPrint = Date.now();
        printedStep = step;
        progress(`step ${step}/${totalSteps}  loss ${last.total_loss.toFixed(4)}  L0 ${last.l0.toFixed(1)}  FVE ${last.fve.toFixed(3)}  ${Math.round(last.tokens_per_s)} tok/s`);
      },
      rolledBack: () => {},
      error: (message, _hint, cause) => {
        // A divergence is told from session.divergence after the run; a failed step by its message.
        if (cause === 'failed') trouble = message;
        else if (cause === 'diverged') return;
        else process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}warning: ${message}${cause === 'splice' ? ' Loss recovered is not measured for the rest of the run.' : ''}\n`);
      },
      spliced: (evaluation, step) => {
        const g = evaluation.groups[0];
        if (g) process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}step ${step}: loss recovered ${g.loss_recovered.toFixed(4)} ± ${g.loss_recovered_se.toPrecision(2)} over ${evaluation.predictions.toLocaleString('en-US')} predictions (layer ${g.sites.join(', ')})\n`);
      },
      checkpoint: async (c) => {
        const dir = path.join(out, 'checkpoints', `step_${String(c.step).padStart(6, '0')}`);
        await mkdir(dir, { recursive: true });
        for (const [name, bytes] of Object.entries(session.checkpointFiles(c))) await writeFile(path.join(dir, name), bytes);
      },
    },
  });
  // Ctrl-C stops after the current step and writes what was trained (a second one quits at once).
  let stopping: Promise<void> | null = null;
  const onInterrupt = () => {
    process.stderr.write(`\nstopping after the current step; the weights so far are written to ${out} (Ctrl-C again quits without writing)\n`);
    process.once('SIGINT', () => process.exit(130));
    stopping = session.stop();
  };
  process.once('SIGINT', onInterrupt);
  try {
    session.start();
    await session.settled();
    await stopping;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const diverged = session.divergence;
  if (diverged && diverged.rolledBackTo === null) {
    // No healthy state to go back to: the weights are those that diverged, not worth writing.
    await session.dispose();
    const lr = trainer.liveParams.lr;
    throw new Error(`training diverged at step ${diverged.step.toLocaleString('en-US')} (${diverged.detail}) before its first logged step, so nothing is written. Lower lr in ${flags.config} (now ${lr.toPrecision(3)}; try ${(lr / 10).toPrecision(2)}) and train again.`);
  }
  // A diverged run is rolled back to its last healthy state; that (or what a failed step left) is written too.
  const files = await session.exportFiles();
  const evaluation = session.lastEval!;
  await mkdir(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(out, name), bytes);
  // The GPU it ran on, when it did: figures from a software adapter are not speeds.
  const metrics = { ...evaluation.metrics, ...(adapter ? { adapter } : {}) };
  await writeFile(path.join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  await session.dispose();
  if (diverged) {
    const lr = trainer.liveParams.lr;
    throw new Error(`training diverged at step ${diverged.step.toLocaleString('en-US')} (${diverged.detail}). The weights of step ${diverged.rolledBackTo!.toLocaleString('en-US')} are written to ${out}. Lower lr in ${flags.config} (now ${lr.toPrecision(3)}; try ${(lr / 10).toPrecision(2)}) and train again, or go on from them with --init-from ${out}.`);
  }
  const failure = trouble as string | null;
  if (failure) throw new Error(`${failure} The weights so far are written to ${out}.`);
  process.stdout.write(JSON.stringify(metrics) + '\n');
  return 0;
}
