// The minified Plotly bundle ships without types; this is the part of its API the charts use.
declare module 'plotly.js-basic-dist-min' {
  type Data = Record<string, unknown>;
  type Layout = Record<string, unknown>;
  interface PlotlyStatic {
    newPlot(el: HTMLElement, data: Data[], layout?: Layout, config?: Record<string, unknown>): Promise<void>;
    react(el: HTMLElement, data: Data[], layout?: Layout, config?: Record<string, unknown>): Promise<void>;
    extendTraces(el: HTMLElement, update: Record<string, unknown[][]>, indices: number[]): Promise<void>;
    relayout(el: HTMLElement, update: Layout): Promise<void>;
    /** Set attributes of the traces at `indices`; an array value gives one entry per trace. */
    restyle(el: HTMLElement, update: Record<string, unknown[]>, indices: number[]): Promise<void>;
    purge(el: HTMLElement): void;
  }
  const Plotly: PlotlyStatic;
  export default Plotly;
}
