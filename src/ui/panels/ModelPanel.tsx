// The variant and its hyper-parameters (the config sent when Train is pressed).
import { useId } from 'react';
import type { Architecture } from '../../engine/config';
import { setForm, useStore } from '../../store/store';
import { NumberField } from '../controls/NumberField';

const VARIANTS: { value: Architecture; label: string }[] = [
  { value: 'relu', label: 'ReLU + L1' },
  { value: 'topk', label: 'TopK' },
  { value: 'jumprelu', label: 'JumpReLU' },
];

export function ModelPanel() {
  const form = useStore((s) => s.form);
  const dIn = useStore((s) => s.dataset?.dIn);
  const busy = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  const id = useId();
  return (
    <section className="panel" aria-labelledby="model-title">
      <h2 id="model-title">Model</h2>
      <div className="field">
        <label htmlFor={id}>Variant</label>
        <select id={id} value={form.architecture} disabled={busy} onChange={(e) => setForm({ architecture: e.target.value as Architecture })}>
          {VARIANTS.map((v) => <option key={v.value} value={v.value}>{v.label}</option>)}
        </select>
      </div>
      <div className="grid2">
        <NumberField label="d_sae" value={form.d_sae} integer min={1} disabled={busy} onChange={(v) => setForm({ d_sae: v })}
          title={dIn ? `expansion factor ${(form.d_sae / dIn).toFixed(1)} × d_in ${dIn}` : undefined} />
        <NumberField label="Batch size" value={form.batch_size} integer min={1} disabled={busy} onChange={(v) => setForm({ batch_size: v })} />
        <NumberField label="Steps" value={form.steps} integer min={1} disabled={busy} onChange={(v) => setForm({ steps: v })} />
        <NumberField label="Initial learning rate" value={form.lr} min={1e-7} disabled={busy} onChange={(v) => setForm({ lr: v })} />
        <NumberField label="Seed" value={form.seed} integer disabled={busy} onChange={(v) => setForm({ seed: v })} />
        {form.architecture === 'relu' && (
          <NumberField label="L1 coefficient λ" value={form.l1_coefficient} min={0} disabled={busy} onChange={(v) => setForm({ l1_coefficient: v })} />
        )}
        {form.architecture === 'topk' && (
          <NumberField label="Initial k" value={form.k} integer min={1} max={form.d_sae} disabled={busy} onChange={(v) => setForm({ k: v })} />
        )}
        {form.architecture === 'jumprelu' && (
          <>
            <NumberField label="L0 coefficient λ" value={form.l0_coefficient} min={0} disabled={busy} onChange={(v) => setForm({ l0_coefficient: v })} />
            <NumberField label="Initial bandwidth ε" value={form.bandwidth} min={1e-6} disabled={busy} onChange={(v) => setForm({ bandwidth: v })} />
            <NumberField label="Initial threshold θ" value={form.init_threshold} min={1e-6} disabled={busy} onChange={(v) => setForm({ init_threshold: v })} />
          </>
        )}
      </div>
      {dIn !== undefined && <p className="muted small">d_in {dIn} → d_sae {form.d_sae} ({(form.d_sae / dIn).toFixed(1)}× expansion)</p>}
    </section>
  );
}
