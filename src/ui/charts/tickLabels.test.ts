// Every chart layout keeps Plotly from measuring each tick label on every redraw (a forced layout
// per label): ticklabeloverflow 'allow' on each axis, also on the axes a chart replaces or adds.
import { describe, expect, it } from 'vitest';
import { layout } from './DataCharts';
import { cvStream, deadStream, guidanceStream, l0Stream, lambdaStream, layerStream, lossStream } from './streams';

const axes = (l: Record<string, unknown>) => ['xaxis', 'yaxis', 'yaxis2'].filter((a) => l[a]).map((a) => [a, (l[a] as { ticklabeloverflow?: string }).ticklabeloverflow]);

describe('tick labels are never measured for clipping', () => {
  it('on every live chart, whatever axes it sets', () => {
    const streams = [lossStream(), l0Stream({ target: true, kOver: 128 }), cvStream(), lambdaStream(false), deadStream(), guidanceStream('g1', 'target'),
      layerStream({ prefix: 'route_share', title: 't', yTitle: 'y', stacked: true }, 3, 0)];
    for (const s of streams) {
      const found = axes(s.layout);
      expect(found.length).toBeGreaterThanOrEqual(2);
      for (const [axis, overflow] of found) expect(overflow, `${String(s.layout.title && (s.layout.title as { text: string }).text)} ${axis}`).toBe('allow');
    }
    expect(axes(guidanceStream('g1', 'target').layout).map(([a]) => a)).toContain('yaxis2');
  });

  it('on the static charts, also when extra replaces an axis', () => {
    const l = layout('t', 'x', { yaxis: { type: 'log' }, yaxis2: { overlaying: 'y' } });
    expect(axes(l)).toEqual([['xaxis', 'allow'], ['yaxis', 'allow'], ['yaxis2', 'allow']]);
    expect((l.yaxis as { type: string }).type).toBe('log');
  });
});
