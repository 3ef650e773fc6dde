// One training run's lifecycle, shared by the engine worker and the CLI: step slices, live updates,
// pause / resume / stop, rollback after divergence, checkpoints, autosave, the periodic splice
// evaluation and the final evaluation and export. The host (src/worker/engine.worker.ts, src/cli/train.ts)
// only carries what the session reports to its user and supplies storage and a way to yield.
import * as tf from '@tensorflow/tfjs';
import { describeOomError, limitsOfBackend } from '../engine/memoryBudget';
import { MetricLog } from '../engine/metricLog';
import { DivergenceError, type Checkpoint, type EvalDetails, type Trainer } from '../engine/trainer';
import type { EvalMetrics, LiveEvent, MetricRow } from '../engine/types';
import { evaluateWithModel, exportSource, type SpliceEvaluation } from '../data/languageModel';
import { siteOfHook } from '../data/sites';
import type { Workspace } from '../data/workspace';
import { buildRunExport } from './runExport';
import type { Autosave, DatasetFingerprint, LogPiece } from './autosave';
import { summariseSplice, type RunData, type RunOutcome } from './runRecord';

export type SessionState = 'running' | 'paused' | 'stopped' | 'done';

/** What a session tells its host; the worker posts these to the page, the CLI prints or writes them. */
export interface SessionEvents {
  /** Rows and live-change events logged since the last report (after every slice). */
  metrics(rows: MetricRow[], events: LiveEvent[]): void;
  status(report: { state: SessionState; step: number; totalSteps: number; message?: string; checkpoints: number[] }): void;
  /** The log was cut back to `step` (training diverged; the weights are those of that step). */
  rolledBack(step: number): void;
  /**
   * Something went wrong; training is paused (diverged, failed) or goes on (splice, autosave) as
   * `hint` says. The hint speaks of the page's sliders; a host without them words its own from `cause`.
   */
  error(message: string, hint: string | undefined, cause: 'diverged' | 'failed' | 'splice' | 'autosave'): void;
  spliced?(evaluation: SpliceEvaluation, step: number): void;
  /** A checkpoint the trainer took; the CLI writes it to disk. Awaited before training goes on. */
  checkpoint?(checkpoint: Checkpoint): Promise<void> | void;
  evaluated?(metrics: EvalMetrics): void;
}

/** Where a session saves its state for resuming: IndexedDB in the browser (src/run/autosave.ts). */
export interface AutosaveStore {
  write(autosave: Autosave, piece: LogPiece): Promise<void>;
  clear(): Promise<void>;
  /** The loaded data's fingerprint, or null when nothing is loaded (then nothing is saved). */
  fingerprint(): DatasetFingerprint | null;
}

export interface SessionOptions {
  id: string;
  trainer: Trainer;
  workspace: Workspace;
  events: SessionEvents;
  /** Training time between two reports and two looks at the host's mailbox. */
  sliceMs: number;
  /** Let the host handle its messages (pause, slider moves) between slices. */
  yieldBetweenSlices: () => Promise<void>;
  autosave?: AutosaveStore;
  /** Splice the SAE into the language model every this many steps (0 = never). */
  lmEvalEvery?: number;
  nextLmEval?: number;
  /** The model layer the user gave for activations from a file (periodic splices use it). */
  spliceSite?: number;
  fromImported?: boolean;
  /** Checkpoints kept in memory (the newest that fit `maxCheckpointBytes`; always the newest one). */
  maxCheckpoints?: number;
  maxCheckpointBytes?: number;
  /** A resumed run's log and how much of it the autosave already holds. */
  resumed?: { log: MetricLog; savedRows: number; savedPieces: number };
  /** Milliseconds since some origin (performance.now in both hosts). */
  now?: () => number;
}

/** Log pieces in the autosave before a save rewrites the log as one. */
const MAX_LOG_PIECES = 256;
/** Seconds between autosaves while training (a reload loses at most about this much). */
const AUTOSAVE_SECONDS = 3;
/** An autosave waits at least this many times as long as the last one took (≤ 20% of the time saving). */
const AUTOSAVE_COST_FACTOR = 5;
/** Tokens of held-out text used by the periodic splice evaluation while training (kept short). */
const PERIODIC_EVAL_TOKENS = 4096;
const RUN_RECORDED_BY = 'where the activations it was trained on were extracted';

export class RunSession {
  readonly id: string;
  readonly trainer: Trainer;
  /** Every logged row, by column (the export's log; the autosave's, piece by piece). */
  readonly log: MetricLog;
  /** The data the run trains on (a run goes on with its own rows when other data is loaded meanwhile). */
  readonly data: RunData;
  /** The model and hook the activations came from, for the export's cfg.json. */
  readonly source: ReturnType<typeof exportSource>;
  readonly fromImported: boolean;
  readonly spliceSite?: number;
  state: SessionState = 'running';
  checkpoints: Checkpoint[] = [];
  lastEval?: EvalDetails;
  /** The last divergence: where, why, and the healthy step it rolled back to (null: none to go back to). */
  divergence: { step: number; detail: string; rolledBackTo: number | null } | null = null;
  /** Splice the SAE into the language model every this many steps (0 = never, or turned off after a failure). */
  lmEvalEvery: number;
  nextLmEval: number;
  /** The first periodic splice evaluation: later ones reuse its zero / mean ablations. */
  private periodic?: SpliceEvaluation;
  /** The latest periodic splice evaluation (for the kept run). */
  private lastSplice?: SpliceEvaluation;
  /** Settles when the training loop has returned (so the trainer may be evaluated or disposed). */
  private loopDone: Promise<void> = Promise.resolve();
  /** While set, the loop waits before its next slice (an evaluation is reading the weights). */
  private hold: Promise<unknown> | null = null;
  private savedRows: number;
  private savedPieces: number;
  /** When the run was last autosaved (ms; -1 once saving failed), how long that took, and the write in flight. */
  private savedAt: number;
  private saveMs = 0;
  private saving: Promise<void> | null = null;
  private readonly opts: SessionOptions;
  private readonly now: () => number;

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.trainer = opts.trainer;
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.resumed?.log ?? new MetricLog();
    this.savedRows = opts.resumed?.savedRows ?? 0;
    this.savedPieces = opts.resumed?.savedPieces ?? 0;
    const ds = opts.workspace.dataset;
    this.data = { name: ds?.name ?? 'activations', rows: ds?.rows ?? 0, dIn: ds?.dIn ?? opts.trainer.data.dIn, nLayers: ds?.nLayers ?? 1 };
    this.source = exportSource(opts.workspace, opts.trainer.cfg);
    this.fromImported = Boolean(opts.fromImported);
    this.spliceSite = opts.spliceSite;
    const every = opts.lmEvalEvery && opts.workspace.lm && Number.isFinite(opts.lmEvalEvery) && opts.lmEvalEvery > 0 ? Math.round(opts.lmEvalEvery) : 0;
    this.lmEvalEvery = every;
    this.nextLmEval = opts.nextLmEval ?? every;
    this.savedAt = this.now();
  }

  /** Start (or, after a pause, continue) training in slices; returns at once. */
  start(): void {
    this.state = 'running';
    this.loopDone = this.loop();
  }

  /** Resolves when the loop has returned: finished, paused, stopped or failed. */
  settled(): Promise<void> {
    return this.loopDone;
  }

  /** Stop after the current step; the state is saved so that a reload can resume it. */
  async pause(): Promise<void> {
    if (this.state === 'running') {
      this.state = 'paused';
      await this.loopDone;
      await this.autosave();
    }
    this.report();
  }

  async resume(): Promise<void> {
    if (this.state === 'paused' && !this.trainer.done) {
      await this.loopDone;
      this.start();
    }
  }

  /** End the run early: what was trained is kept, evaluated and reported like a finished run. */
  async stop(): Promise<void> {
    if (this.state === 'running' || this.state === 'paused') {
      this.state = 'stopped';
      await this.loopDone;
      this.flush();
      await this.finish();
    }
  }

  /**
   * Take the weights as they are, without a step: evaluated and reported like a finished run, so
   * that an imported SAE is browsed (features, dashboards, loss recovered) as it was published.
   */
  async finishUntrained(): Promise<void> {
    this.state = 'stopped';
    await this.finish();
  }

  /** Stop without evaluating and free the trainer (a new run replaces this one). */
  async dispose(): Promise<void> {
    this.state = 'stopped';
    await this.loopDone;
    await this.saving;
    this.trainer.dispose();
  }

  /** Run `work` while the training loop waits (it stops at its next step boundary until `work` ends). */
  async holding<T>(work: () => Promise<T>): Promise<T> {
    let release = () => {};
    const held = new Promise<void>((res) => { release = res; });
    this.hold = held;
    try {
      return await work();
    } finally {
      if (this.hold === held) this.hold = null;
      release();
    }
  }

  /** Model sites of the activations the run was trained on, when the model in the page extracted them. */
  recordedSites(): { recordedSites?: number[]; recordedBy: string } {
    const sites = this.source ? (this.source.hookNames ?? [this.source.hookName]).map(siteOfHook) : [];
    const known = sites.length > 0 && sites.every((s) => s !== undefined);
    return { recordedSites: known ? sites as number[] : undefined, recordedBy: RUN_RECORDED_BY };
  }

  /** Report the state, step and kept checkpoints. */
  report(message?: string): void {
    this.opts.events.status({ state: this.state, step: this.trainer.stepCount, totalSteps: this.trainer.totalSteps, message, checkpoints: this.checkpoints.map((c) => c.step) });
  }

  /** What the finished (or stopped) run leaves to be kept; null before its final evaluation. */
  outcome(): RunOutcome | null {
    if (!this.lastEval || (this.state !== 'done' && this.state !== 'stopped')) return null;
    return {
      runId: this.id, config: this.trainer.cfg, state: this.state, metrics: this.lastEval.metrics, rows: this.log.toRows(), data: this.data,
      splice: this.lastSplice ? summariseSplice(this.lastSplice) : null,
    };
  }

  /** The SAELens export of the current weights, with the whole log. */
  async exportFiles(): Promise<Record<string, Uint8Array>> {
    await this.loopDone;
    this.lastEval ??= await this.trainer.evaluate();
    return buildRunExport({ ...this.exportInput(), tensors: await this.trainer.exportTensors(), rows: this.log.toRows(), firingFraction: this.lastEval.firingFraction });
  }

  /** The SAELens export of a checkpoint, with the log up to its step. */
  checkpointFiles(c: Checkpoint): Record<string, Uint8Array> {
    return buildRunExport({ ...this.exportInput(), tensors: c.tensors, rows: this.log.toRows().filter((row) => row.step <= c.step) });
  }

  /** A kept checkpoint by its step (the error lists the kept ones). */
  checkpointAt(step: number): Checkpoint {
    const c = this.checkpoints.find((cp) => cp.step === step);
    if (!c) throw new Error(`no checkpoint at step ${step} is kept (kept: ${this.checkpoints.map((cp) => cp.step).join(', ') || 'none'}).`);
    return c;
  }

  private exportInput() {
    const t = this.trainer;
    return { saelens: t.saelensConfig(), dIn: t.data.dIn, config: t.currentConfig(), datasetName: this.data.name, normalization: t.normalization, source: this.source };
  }

  private async loop(): Promise<void> {
    const { trainer } = this;
    const sliceMs = this.opts.sliceMs;
    while (this.state === 'running' && !trainer.done) {
      if (this.hold) await this.hold;
      const sliceStart = this.now();
      try {
        // At least one step a slice, then more while the slice's time lasts; a slice ends at a due
        // splice evaluation, so that it measures the weights of the step it is due at.
        do {
          await trainer.runSteps(1);
        } while (this.state === 'running' && !trainer.done && !this.hold && this.now() - sliceStart < sliceMs && !this.spliceDue());
      } catch (e) {
        this.state = 'paused';
        await this.flushAndKeep();
        if (e instanceof DivergenceError) await this.rollBack(e);
        else this.failed(e);
        return;
      }
      await this.flushAndKeep();
      if (this.opts.autosave && this.savedAt !== -1 && this.now() - this.savedAt > Math.max(AUTOSAVE_SECONDS * 1000, AUTOSAVE_COST_FACTOR * this.saveMs)) void this.autosave();
      if (this.spliceDue()) {
        this.nextLmEval = trainer.stepCount + this.lmEvalEvery;
        await this.periodicSplice();
      }
      // Yield so that pause / update / stop messages are handled between slices.
      await this.opts.yieldBetweenSlices();
    }
    if (trainer.done && this.state === 'running') {
      this.state = 'done';
      await this.finish();
    }
  }

  private spliceDue(): boolean {
    return this.lmEvalEvery > 0 && this.trainer.stepCount >= this.nextLmEval;
  }

  /** Out of memory or another failure: say what fits; the weights so far stay (the step's tidy freed its tensors). */
  private failed(e: unknown): void {
    const t = this.trainer;
    const oom = describeOomError(e, t.cfg, t.data.dIn, limitsOfBackend(t.backend, tf.backend(), tf.env()));
    this.opts.events.error(oom ?? (e instanceof Error ? e.message : String(e)), oom ? 'Paused with the weights so far kept: export them, or train again at a size that fits.' : undefined, 'failed');
    this.report(oom ? 'paused: out of memory' : 'paused: training failed');
  }

  /** Back to the last finite state; the sliders keep the values that led here. */
  private async rollBack(e: DivergenceError): Promise<void> {
    const to = this.trainer.rollback();
    this.divergence = { step: e.step, detail: e.detail, rolledBackTo: to };
    const live = this.trainer.liveParams;
    if (to !== null) {
      this.log.truncateToStep(to);
      this.opts.events.rolledBack(to);
    }
    const where = to !== null ? `Rolled back to step ${to.toLocaleString('en-US')}, the last healthy state, and paused.` : 'It diverged before its first logged step, so there is no earlier state to go back to.';
    this.opts.events.error(`training diverged at step ${e.step.toLocaleString('en-US')} (${e.detail}). ${where}`,
      `Lower the learning rate (now ${live.lr.toPrecision(3)}; try ${(live.lr / 10).toPrecision(2)}) or λ with the sliders, then Resume — or Reset and train again.`, 'diverged');
    this.flush();
    if (to !== null) await this.autosave();
    this.report('paused: training diverged');
  }

  /** Loss recovered on a short held-out text while training; a failure turns the periodic check off. */
  private async periodicSplice(): Promise<void> {
    try {
      const evaluation = await evaluateWithModel(this.opts.workspace, this.trainer, { maxTokens: PERIODIC_EVAL_TOKENS, reuse: this.periodic, site: this.spliceSite, ...this.recordedSites() });
      this.periodic = evaluation;
      this.lastSplice = evaluation;
      this.opts.events.spliced?.(evaluation, this.trainer.stepCount);
    } catch (e) {
      this.lmEvalEvery = 0;
      this.opts.events.error(e instanceof Error ? e.message : String(e), 'Loss recovered will not be measured during this run; training goes on.', 'splice');
    }
  }

  /** Report what was logged since the last report; keep the new checkpoints (and hand them to the host). */
  private flush(): Checkpoint[] {
    const rows = this.trainer.takeRows();
    const events = this.trainer.takeEvents();
    const taken = this.trainer.takeCheckpoints();
    this.log.append(rows);
    this.checkpoints.push(...taken);
    const max = this.opts.maxCheckpoints ?? 5;
    const maxBytes = this.opts.maxCheckpointBytes ?? 512 * 2 ** 20;
    this.checkpoints.splice(0, Math.max(0, this.checkpoints.length - max));
    // Large SAEs: keep the newest checkpoints that fit the memory budget (always the newest one).
    const bytes = (c: Checkpoint) => Object.values(c.tensors).reduce((a, t) => a + t.data.byteLength, 0);
    while (this.checkpoints.length > 1 && this.checkpoints.reduce((a, c) => a + bytes(c), 0) > maxBytes) this.checkpoints.shift();
    if (rows.length || events.length) this.opts.events.metrics(rows, events);
    this.report();
    return taken;
  }

  private async flushAndKeep(): Promise<void> {
    for (const c of this.flush()) await this.opts.events.checkpoint?.(c);
  }

  private async finish(): Promise<void> {
    // A finished run has nothing to resume (it is kept among the runs by the page).
    await this.saving;
    await this.opts.autosave?.clear();
    this.report(this.trainer.stoppedEarlyAt !== null ? `stopped early: kept the weights of step ${this.trainer.stoppedEarlyAt}` : undefined);
    this.lastEval = await this.trainer.evaluate();
    this.opts.events.evaluated?.(this.lastEval.metrics);
  }

  /**
   * Write the run's state to the autosave. The state is copied on the device at once (the loop may
   * go on) and read back and stored in the background; one write at a time.
   */
  autosave(): Promise<void> {
    const store = this.opts.autosave;
    if (!store) return Promise.resolve();
    if (this.saving) return this.saving;
    const fp = store.fingerprint();
    if (!fp) return Promise.resolve();
    const state = this.trainer.saveState();
    // The rows logged since the last save (from where a rollback cut the log, if it did); all of
    // them in one piece now and then, so a long run's log is not spread over thousands of pieces.
    const from = this.savedPieces >= MAX_LOG_PIECES ? 0 : Math.min(this.savedRows, this.log.length);
    const piece = { from, data: this.log.toData(from) };
    const logLength = this.log.length;
    this.savedPieces = from === 0 ? 1 : this.savedPieces + 1;
    this.savedRows = logLength;
    const began = this.now();
    this.savedAt = began;
    this.saving = (async () => {
      try {
        await store.write({ runId: this.id, savedAt: Date.now(), config: this.trainer.cfg, dataset: fp, fromImported: this.fromImported, lmEvalEvery: this.lmEvalEvery, nextLmEval: this.nextLmEval, state: await state, logLength }, piece);
        this.saveMs = this.now() - began;
      } catch (e) {
        // Not stored: the next save writes these rows again.
        this.savedRows = Math.min(this.savedRows, from);
        // Storage refused (quota, private window): training goes on; say so once.
        if (this.savedAt !== -1) this.opts.events.error(e instanceof Error ? e.message : String(e), 'Autosave failed, so a reload or a crash would lose this run; training goes on.', 'autosave');
        this.savedAt = -1;
      } finally {
        this.saving = null;
      }
    })();
    return this.saving;
  }
}
