// Plotly is loaded once, on first use (it is large): every chart awaits the same promise.
import type PlotlyType from 'plotly.js-basic-dist-min';

let plotly: Promise<typeof PlotlyType> | null = null;
export const loadPlotly = () => (plotly ??= import('plotly.js-basic-dist-min').then((m) => m.default));
