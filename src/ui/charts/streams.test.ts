// The legends of the live charts for every variant family and sparsity mode, and the target band of
// the L0 chart: only for runs with a target, following the target in effect.
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, SPARSITY_KIND, type SparsityMode } from '../../engine/config';
import type { MetricRow } from '../../engine/types';
import { l0Stream, lambdaStream, lossStream, sparsityCharts, type Stream } from './streams';

const legend = (s: Stream) => s.traces.filter((t) => t.showlegend !== false).map((t) => t.name);

const row = (step: number, extra: Partial<MetricRow> = {}) => ({
  step, total_loss: 2, recon_loss: 1.5, sparsity_loss: 0.5, sparsity_l0: 0.06, k: 16, target_l0: 0.05, lambda: 0.01, lambda_effective: 0.01, ...extra,
}) as unknown as MetricRow;

describe('live chart legends', () => {
  for (const architecture of ARCHITECTURES) {
    for (const mode of ['target_l0', 'manual'] as SparsityMode[]) {
      it(`${architecture}, ${mode}`, () => {
        const c = sparsityCharts(architecture, mode, 256);
        const byK = SPARSITY_KIND[architecture] === 'k';
        const target = mode === 'target_l0';
        // k variants: no sparsity loss (0 by construction) and no λ.
        expect(legend(lossStream(0, c.lossWithSparsity))).toEqual(byK ? ['total', 'reconstruction'] : ['total', 'reconstruction', 'sparsity']);
        expect(c.lambda === null).toBe(byK);
        const l0 = l0Stream(c.l0);
        const names = legend(l0);
        expect(names.includes('L0 fraction')).toBe(true);
        // A target band only when the run has a target; none is fixed in the layout.
        expect(names.some((n) => String(n).startsWith('target L0'))).toBe(target);
        expect(l0.layout.shapes ?? []).toEqual([]);
        expect(String((l0.layout.title as { text: string }).text)).not.toContain('5%');
        // k variants: k / d_sae, named by what sets it; nothing calls the target a controller.
        expect(names.filter((n) => String(n).startsWith('k / d_sae'))).toEqual(byK ? [target ? 'k / d_sae (from the target)' : 'k / d_sae'] : []);
        expect(names.some((n) => String(n).includes('controller'))).toBe(false);
        if (c.lambda) expect(legend(lambdaStream(c.lambda.target))[0]).toBe(target ? 'λ (controller)' : 'λ (set by hand)');
      });
    }
  }
});

describe('the L0 chart', () => {
  it('draws a step-shaped band around the target in effect, from step 0, moving when the target does', () => {
    const s = l0Stream({ target: true, kOver: null });
    const first = s.extend([row(10), row(20)])!;
    const later = s.extend([row(30, { target_l0: 0.1 }), row(40, { target_l0: 0.1 })])!;
    const names = s.traces.map((t) => t.name);
    const at = (name: string) => {
      const i = names.indexOf(name);
      return { x: [...first.x[i], ...later.x[i]], y: [...first.y[i], ...later.y[i]].map((v) => Number(v!.toFixed(6))) };
    };
    expect(at('target − tolerance')).toEqual({ x: [0, 10, 20, 30, 40], y: [0.04, 0.04, 0.04, 0.08, 0.08] });
    expect(at('target + tolerance')).toEqual({ x: [0, 10, 20, 30, 40], y: [0.06, 0.06, 0.06, 0.12, 0.12] });
    expect(at(names.find((n) => String(n).startsWith('target L0')) as string).y).toEqual([0.05, 0.05, 0.05, 0.1, 0.1]);
    expect(at('L0 fraction')).toEqual({ x: [10, 20, 30, 40], y: [0.06, 0.06, 0.06, 0.06] });
    for (const t of s.traces.slice(0, 3)) expect((t.line as { shape: string }).shape).toBe('hv');
    expect(s.traces[1].fill).toBe('tonexty');
  });

  it('of a k variant shows k / d_sae as k changes; a run without a target has no band', () => {
    const s = l0Stream({ target: false, kOver: 256 });
    expect(s.traces.map((t) => t.name)).toEqual(['L0 fraction', 'k / d_sae']);
    const ext = s.extend([row(10, { k: 16 }), row(20, { k: 32 })])!;
    expect(ext.y[1]).toEqual([16 / 256, 32 / 256]);
  });
});

describe('log axes of the live charts', () => {
  it('the loss chart labels powers of ten as the losses fall through them', () => {
    const s = lossStream(0, false);
    const ext = s.extend([row(10, { total_loss: 300, recon_loss: 250 }), row(20, { total_loss: 0.5, recon_loss: 0.4 })])!;
    expect(ext.indices).toEqual([0, 1, 2, 3]);
    const ticks = s.yTicks!()!;
    expect(ticks.ticktext!.filter((_, i) => ticks.tickvals![i] >= 0.4 && ticks.tickvals![i] <= 300)).toEqual(['1', '10', '100']);
    expect(s.yTicks!()).toBeNull();
    s.extend([row(30, { total_loss: 0.05, recon_loss: 0.04 })]);
    expect(s.yTicks!()?.ticktext).toContain('0.1');
  });

  it('the λ chart too', () => {
    const s = lambdaStream(true);
    s.extend([row(10, { lambda: 1e-3, lambda_effective: 1e-3 }), row(20, { lambda: 0.5, lambda_effective: 0.5 })]);
    const ticks = s.yTicks!()!;
    expect(ticks.ticktext!.filter((_, i) => ticks.tickvals![i] >= 1e-3 && ticks.tickvals![i] <= 0.5)).toEqual(['1e-3', '1e-2', '0.1']);
  });
});
