// Live Plotly charts (docs/analysis.md): losses raw + smoothed, L0 fraction (against the target in
// effect, for target-L0 runs), convergence CV against 5%, and the charts that apply to the
// variant: λ trajectory, dead/dense latents, per-layer routing or shares, one chart per guidance
// target. Rows arrive from metricsBuffer (not React state) and are appended with extendTraces at
// most ~10 times a second; a trace over its point budget is thinned (decimate.ts) and re-sent whole.
import { useEffect, useMemo, useRef, useState } from 'react';
import type PlotlyType from 'plotly.js-basic-dist-min';
import { loadPlotly } from './plotly';
import { layersUsed, variantDeclaration, type SaeConfig } from '../../engine/config';
import { metricsBuffer } from '../../store/metricsBuffer';
import { checkForm, useStore } from '../../store/store';
import { describeSource } from '../../app/client';
import type { MetricRow } from '../../engine/types';
import { SpliceChart } from './SpliceChart';
import { ShownTrace } from './decimate';
import { StepAxis, stepAxisLimit } from './stepAxis';
import { tickRelayout } from './logAxis';
import { measureDraw, queueRedraw, redrawTurn, unqueueRedraw } from './redrawQueue';
import {
  cvStream, deadStream, guidanceStream, l0Stream, lambdaStream, layerStream, lossStream, sparsityCharts, type LayerChart, type Stream,
} from './streams';

const MIN_REDRAW_MS = 100;
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

const warn = (e: unknown) => console.warn('chart update failed', e);

/**
 * One chart fed from metricsBuffer. `make` builds its stream; a new run (buffer cleared) starts a
 * fresh one. Mounted mid-run, the chart first plots the rows already logged.
 */
function StreamChart({ testId, make, wide }: { testId: string; make: () => Stream; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const makeRef = useRef(make);
  makeRef.current = make;

  useEffect(() => {
    let Plotly: typeof PlotlyType | null = null;
    let disposed = false;
    let stream: Stream = makeRef.current();
    let shown = stream.traces.map(() => new ShownTrace());
    let queue: MetricRow[] = [];
    let queued = false;
    let lastDraw = 0;
    let empty = true;
    let ready: Promise<void> = Promise.resolve();
    const axis = new StepAxis();
    let lastStep = 0;
    /** True while our own relayout runs (its event is not the user's zoom). */
    let relayingOut = false;

    // Every Plotly call goes through one promise chain, so a fresh plot never races an append.
    const init = () => {
      const el = ref.current;
      const P = Plotly;
      if (!P || !el) return;
      const fresh = makeRef.current();
      stream = fresh;
      shown = fresh.traces.map(() => new ShownTrace());
      axis.reset();
      lastStep = 0;
      el.setAttribute('data-points', '0');
      ready = ready.then(redrawTurn).then(async () => {
        if (disposed) return;
        empty = true;
        await P.react(el, fresh.traces, fresh.layout, CONFIG);
        // The user's zoom, pan or reset of the step axis (Plotly's graph div is an event emitter).
        const gd = el as unknown as { on?: (event: string, f: (u: Record<string, unknown>) => void) => void; removeAllListeners?: (event: string) => void };
        gd.removeAllListeners?.('plotly_relayout');
        gd.on?.('plotly_relayout', (u) => {
          if (axis.onRelayout(u, relayingOut) && lastStep > 0) {
            const top = axis.next(lastStep, stepLimit());
            if (top !== null) ready = ready.then(() => setRange(P, el, top)).catch(warn);
          }
        });
      }).catch(warn);
    };

    const setRange = (P: typeof PlotlyType, el: HTMLElement, top: number) => relayout(P, el, { 'xaxis.range': [0, top] });
    const relayout = async (P: typeof PlotlyType, el: HTMLElement, update: Record<string, unknown>) => {
      relayingOut = true;
      try { await P.relayout(el, update); } finally { relayingOut = false; }
    };
    // The step axis ends where the run does: at its step count while it trains, at its last
    // logged step once it is over (the store says which).
    const stepLimit = () => { const s = useStore.getState(); return stepAxisLimit(s.runState, s.totalSteps, lastStep); };
    const unsubscribeRun = useStore.subscribe((s, prev) => {
      if (s.runState === prev.runState && s.totalSteps === prev.totalSteps) return;
      const el = ref.current;
      const P = Plotly;
      if (!P || !el || disposed || lastStep <= 0) return;
      ready = ready.then(() => {
        if (disposed || empty) return;
        const top = axis.next(lastStep, stepLimit());
        if (top !== null) return setRange(P, el, top);
      }).catch(warn);
    });

    const flush = () => {
      queued = false;
      if (!Plotly || disposed || queue.length === 0) return;
      const now = performance.now();
      if (now - lastDraw < MIN_REDRAW_MS) { schedule(); return; }
      lastDraw = now;
      const rows = queue;
      queue = [];
      const el = ref.current;
      if (!el) return;
      const ext = stream.extend(rows);
      if (!ext) return;
      const P = Plotly;
      el.setAttribute('data-points', String(stream.count()));
      let thinned = false;
      ext.indices.forEach((t, i) => {
        if (shown[t].extend(ext.x[i], ext.y[i])) thinned = true;
        const xs = ext.x[i];
        if (xs.length) lastStep = Math.max(lastStep, xs[xs.length - 1] ?? 0);
      });
      const top = axis.next(lastStep, stepLimit());
      const ticks = stream.yTicks?.() ?? null;
      // Copies: Plotly keeps the arrays it is given.
      const whole = thinned ? { x: shown.map((t) => t.x.slice()), y: shown.map((t) => t.y.slice()), indices: shown.map((_, i) => i) } : null;
      // extendTraces must follow the (async) initial plot.
      ready = ready.then(async () => {
        if (disposed) return;
        // The first rows: points, step axis and no placeholder text in one Plotly.react (each
        // Plotly call is a full redraw, 10–30 ms; relayout + extendTraces made ~60 ms tasks).
        if (empty) {
          empty = false;
          const traces = stream.traces.map((tr, i) => ({ ...tr, x: shown[i].x.slice(), y: shown[i].y.slice() }));
          const layout = {
            ...stream.layout, annotations: [],
            xaxis: { ...(stream.layout.xaxis as object | undefined), ...(top !== null ? { range: [0, top], autorange: false } : {}) },
            ...(ticks ? { yaxis: { ...(stream.layout.yaxis as object | undefined), ...ticks } } : {}),
          };
          relayingOut = true;
          const t = performance.now();
          try { await P.react(el, traces, layout, CONFIG); } finally { relayingOut = false; }
          measureDraw(testId, 'first rows', t);
          return;
        }
        const t = performance.now();
        // One relayout for the step axis and the log axis's ticks (each Plotly call is a redraw).
        if (top !== null || ticks) await relayout(P, el, { ...(top !== null ? { 'xaxis.range': [0, top] } : {}), ...(ticks ? tickRelayout('yaxis', ticks) : {}) });
        if (whole) await P.restyle(el, { x: whole.x, y: whole.y }, whole.indices);
        else await P.extendTraces(el, { x: ext.x, y: ext.y }, ext.indices);
        measureDraw(testId, whole ? 'thinned' : 'append', t);
      }).catch(warn);
    };

    function schedule() {
      if (queued) return;
      queued = true;
      queueRedraw(flush);
    }

    const unsubscribe = metricsBuffer.subscribe(
      (appended) => {
        queue.push(...appended);
        schedule();
      },
      () => { queue = []; init(); },
    );

    void loadPlotly().then((P) => {
      if (disposed) return;
      Plotly = P;
      init();
      queue = metricsBuffer.toRows();
      if (queue.length) schedule();
    });

    return () => {
      disposed = true;
      unsubscribe();
      unsubscribeRun();
      unqueueRedraw(flush);
      const el = ref.current;
      if (el && Plotly) Plotly.purge(el);
    };
  }, []);

  return <div ref={ref} className={wide ? 'chart wide' : 'chart'} data-testid={testId} data-points="0" />;
}

/** Ids of guidance targets that appear in the logged rows (targets may be added mid-run). */
function useLoggedGuidanceIds(): string[] {
  const [ids, setIds] = useState<string[]>([]);
  useEffect(() => {
    const seen = new Set<string>();
    const scan = (columns: Iterable<string>) => {
      let changed = false;
      for (const key of columns) {
        const m = /^guidance_(.+)_pos$/.exec(key);
        if (m && !seen.has(m[1])) { seen.add(m[1]); changed = true; }
      }
      if (changed) setIds([...seen]);
    };
    scan(metricsBuffer.log.columnNames());
    return metricsBuffer.subscribe((rows) => { for (const r of rows) scan(Object.keys(r)); }, () => { seen.clear(); setIds([]); });
  }, []);
  return ids;
}

/** The per-layer chart a variant declares (RouteSAE's routing share, …), or null. */
function layerChart(cfg: SaeConfig): LayerChart | null {
  return variantDeclaration(cfg.architecture)?.charts?.layers?.(cfg) ?? null;
}

/** Before the first step: what the run is waiting for, so empty charts do not look idle. */
function ChartsStatus() {
  const calibrating = useStore((s) => s.calibrating);
  const preparing = useStore((s) => s.runState === 'running' && s.resolved === null);
  if (!calibrating && !preparing) return null;
  return (
    <p className="charts-status wide" role="status" data-testid="charts-status">
      {calibrating
        ? `The run starts once the backends are measured: now ${calibrating.backend}, ${calibrating.index + 1} of ${calibrating.total} (see the Train panel).`
        : 'Preparing the run: reading the training rows…'}
    </p>
  );
}

export function Charts() {
  const resolved = useStore((s) => s.resolved);
  const form = useStore((s) => s.form);
  const drafts = useStore((s) => s.guidance);
  const dataset = useStore((s) => s.dataset);
  const loggedIds = useLoggedGuidanceIds();
  // Changing the window re-plots the losses from the rows already logged.
  const [smoothing, setSmoothing] = useState(0);
  const showSplice = useStore((s) => s.splicePoints.length > 0 || (s.lmEvalEvery > 0 && s.lm?.model !== undefined));

  // The run's config once started; before that, what Train would run.
  const planned = useMemo(() => (resolved ? null : checkForm(form, drafts, dataset).config), [resolved, form, drafts, dataset]);
  const cfg = resolved ?? planned;
  const arch = cfg?.architecture ?? form.architecture;
  const { lossWithSparsity, l0, lambda } = sparsityCharts(arch, cfg?.sparsity_mode ?? form.sparsity_mode, cfg?.d_sae ?? form.d_sae);
  const layers = cfg ? layerChart(cfg) : null;
  const nLayers = cfg ? layersUsed(cfg) : 0;
  const firstLayer = cfg ? cfg.layer_start : 0;

  // Charts for the targets logged so far and those in the form (empty until they are trained).
  const guidanceIds = [...new Set([...loggedIds, ...drafts.map((d) => d.id)])];
  const titles = new Map<string, string>();
  for (const t of resolved?.guidance ?? []) titles.set(t.id, `Guidance ${t.id}: latent ${t.latent} (${describeSource(t)})`);
  for (const d of drafts) {
    const src = d.source === 'file' ? `labels ${d.file}` : d.source === 'piece' ? `token is ${JSON.stringify(d.piece)}` : `token matches /${d.pattern}/`;
    titles.set(d.id, `Guidance ${d.id}: latent ${d.latent} (${src})`);
  }

  return (
    <section className="charts" aria-label="Charts">
      <div className="chart-toolbar wide">
        <label htmlFor="smoothing-window">Loss smoothing window (logged steps, 0 = automatic: min(50, n/10))</label>
        <input id="smoothing-window" type="number" min={0} step={1} value={smoothing} onChange={(e) => setSmoothing(Math.max(0, Math.round(Number(e.target.value) || 0)))} />
        <span className="muted small">Charts: hover for values, drag to zoom, double-click to reset, camera icon for PNG.</span>
      </div>
      <ChartsStatus />
      <StreamChart key={`loss-${smoothing}-${lossWithSparsity}`} testId="chart-loss" make={() => lossStream(smoothing, lossWithSparsity)} wide />
      <StreamChart key={`l0-${l0.target}-${l0.kOver}`} testId="chart-l0" make={() => l0Stream(l0)} />
      {lambda && <StreamChart key={`lambda-${lambda.target}`} testId="chart-lambda" make={() => lambdaStream(lambda.target)} />}
      <StreamChart key="cv" testId="chart-cv" make={cvStream} />
      <StreamChart key="dead" testId="chart-dead" make={deadStream} />
      {showSplice && <SpliceChart />}
      {layers && nLayers > 1 && (
        <StreamChart key={`route-${arch}-${layers.title}-${nLayers}-${firstLayer}`} testId="chart-route" make={() => layerStream(layers, nLayers, firstLayer)} />
      )}
      {guidanceIds.map((id) => {
        const title = titles.get(id) ?? `Guidance ${id}`;
        return <StreamChart key={`guidance-${id}-${title}`} testId={`chart-guidance-${id}`} make={() => guidanceStream(id, title)} />;
      })}
    </section>
  );
}
