// Where an SAE is spliced into the model: a layer chosen by hand, else the SAE's recorded hook,
// else the extracted activations' sites; with none of them Evaluate waits for a choice (no
// default layer). A hook other than the recorded one is warned about.
import { describe, expect, it } from 'vitest';
import { hookMismatch, spliceTarget, spliceTargetOf } from './sites';

const fileActivations = { lm: { model: { nLayers: 5 } }, imported: null };

describe('spliceTarget', () => {
  it('activations from a file and no layer chosen: Evaluate is disabled and says to choose the layer', () => {
    const t = spliceTargetOf('run', { ...fileActivations, spliceSite: null });
    expect(t.site).toBeUndefined();
    expect(t.disabledWhy).toMatch(/^choose the model layer of the loaded activations first/);
    expect(t.warning).toBeNull();
  });

  it('a chosen layer is sent (layer 0 too: chosen, not a default)', () => {
    expect(spliceTargetOf('run', { ...fileActivations, spliceSite: 0 })).toEqual({ site: 0, disabledWhy: null, warning: null });
    expect(spliceTargetOf('run', { ...fileActivations, spliceSite: 3 })).toEqual({ site: 3, disabledWhy: null, warning: null });
  });

  it('activations extracted in the page: the worker uses their sites, nothing to choose', () => {
    expect(spliceTargetOf('run', { lm: { model: { nLayers: 5 }, datasetSites: [3] }, spliceSite: null, imported: null })).toEqual({ site: undefined, disabledWhy: null, warning: null });
  });

  it('an imported SAE with a hook_name is spliced there unless a layer is chosen; another layer is warned about', () => {
    const imported = { cfg: { hook_name: 'blocks.3.hook_resid_pre' } };
    expect(spliceTargetOf('imported', { ...fileActivations, imported, spliceSite: null })).toEqual({ site: undefined, disabledWhy: null, warning: null });
    expect(spliceTargetOf('imported', { ...fileActivations, imported, spliceSite: 3 })).toEqual({ site: 3, disabledWhy: null, warning: null });
    const t = spliceTargetOf('imported', { ...fileActivations, imported, spliceSite: 0 });
    expect(t.site).toBe(0);
    expect(t.warning).toBe("the SAE belongs at blocks.3.hook_resid_pre (its cfg.json's hook_name) but is spliced at blocks.0.hook_resid_pre: loss recovered there says little about it.");
    // The run is not the imported SAE: its hook does not make the run's layer known.
    expect(spliceTargetOf('run', { ...fileActivations, imported, spliceSite: null }).disabledWhy).toMatch(/^choose the model layer/);
    // A hook that is not a residual site records nothing.
    expect(spliceTargetOf('imported', { ...fileActivations, imported: { cfg: { hook_name: 'unknown_hook' } }, spliceSite: null }).disabledWhy).toMatch(/^choose the model layer/);
  });

  it('hookMismatch names both hooks, the final residual as resid_post', () => {
    expect(hookMismatch(undefined, 2, 5, 'x')).toBeNull();
    expect(hookMismatch(2, 2, 5, 'x')).toBeNull();
    expect(hookMismatch(5, 2, 5, 'x')).toMatch(/belongs at blocks\.4\.hook_resid_post \(x\) but is spliced at blocks\.2\.hook_resid_pre/);
    expect(spliceTarget({ nLayers: 5, chosen: null, recorded: 4, recordedBy: 'x' })).toEqual({ disabledWhy: null, warning: null });
  });
});
