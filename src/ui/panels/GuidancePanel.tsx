// Guidance targets (docs/training.md): steer chosen latents towards a labelling of the rows, from a labels
// file or a rule on each row's token. Before Train the targets go into the config; during a run,
// every edit reaches the job at its next step (client.ts sends them, debounced).
import { useEffect } from 'react';
import { useStore, addGuidanceTarget, guidanceProblem, removeGuidanceTarget, updateGuidanceTarget, type GuidanceDraft } from '../../store/store';
import { previewLabels } from '../../app/client';
import type { DatasetInfo } from '../../data/types';
import { SelectField, TextField } from '../controls/Fields';
import { NumberField } from '../controls/NumberField';

function TargetEditor({ draft, dataset, dSae }: { draft: GuidanceDraft; dataset: DatasetInfo | null; dSae: number }) {
  const preview = useStore((s) => s.previews[draft.id]);
  const tokenRules = Boolean(dataset?.tokens && dataset.vocab);
  const files = dataset?.labels ?? [];
  const problem = guidanceProblem(draft, dataset, dSae);
  const labelsProblem = guidanceProblem({ ...draft, latent: 0 }, dataset, Math.max(1, dSae));
  const set = (patch: Partial<GuidanceDraft>) => updateGuidanceTarget(draft.id, patch);
  // A labels file loaded after the target was added becomes its file.
  useEffect(() => {
    if (draft.source === 'file' && !files.some((f) => f.name === draft.file) && files.length) updateGuidanceTarget(draft.id, { file: files[0].name });
  }, [draft.source, draft.file, draft.id, files]);
  const sourceOptions = [
    { value: 'file' as const, label: 'labels file', disabled: !files.length },
    { value: 'piece' as const, label: 'token is', disabled: !tokenRules },
    { value: 'regex' as const, label: 'token matches regex', disabled: !tokenRules },
  ];
  return (
    <fieldset className="group target" role="group" aria-label={`Guidance target ${draft.id}`}>
      <legend>Target {draft.id}</legend>
      <div className="grid2">
        <NumberField label="Latent" value={draft.latent} integer min={0} max={dSae - 1} onChange={(v) => set({ latent: v })} />
        <SelectField label="Method" value={draft.method} onChange={(v) => set({ method: v })}
          options={[{ value: 'contrastive', label: 'contrastive' }, { value: 'mse', label: 'mse' }]}
          title="contrastive: push mean(f | positive) above mean(f | negative) by the margin; mse: fit the latent to the labels" />
        <NumberField label="β" value={draft.beta} min={0} onChange={(v) => set({ beta: v })} title="weight of this target’s loss in the total" />
        {draft.method === 'contrastive' && (
          <NumberField label="Margin" value={draft.margin} min={1e-9} onChange={(v) => set({ margin: v })} />
        )}
        <SelectField label="Labels" value={draft.source} options={sourceOptions} onChange={(v) => set({ source: v })} />
        {draft.source === 'file' && files.length > 0 && (
          <SelectField label="Labels file" value={draft.file || files[0].name} onChange={(v) => set({ file: v })}
            options={files.map((f) => ({ value: f.name, label: `${f.name} (${(f.positiveFraction * 100).toFixed(1)}% positive)` }))} />
        )}
        {draft.source === 'piece' && (
          <TextField label="Token piece" value={draft.piece} placeholder="e.g.  the" onChange={(v) => set({ piece: v })}
            title="the exact piece as the vocab shows it; a leading space counts" />
        )}
        {draft.source === 'regex' && (
          <TextField label="Token regex" value={draft.pattern} placeholder="e.g. ^ ?[A-Z]" onChange={(v) => set({ pattern: v })}
            invalid={Boolean(draft.pattern) && problem?.startsWith('bad regular') === true} title="JavaScript regular expression tested on each row’s token piece" />
        )}
      </div>
      {!files.length && !tokenRules ? (
        <p className="warn small">
          Nothing to label the rows with yet. Drop a labels file (<code>.csv</code>, <code>.jsonl</code> or 1-D <code>.npy</code>, one value
          per row), or for token rules the token ids (an int <code>.npy</code>, one per row) and the vocab (<code>.json</code>).
        </p>
      ) : draft.source !== 'file' && !tokenRules ? (
        <p className="warn small">Token rules need the token ids of these rows (an int <code>.npy</code>, one per row) and the vocab (<code>.json</code>): drop both.</p>
      ) : problem ? (
        <p className="warn small">{problem}</p>
      ) : null}
      <div className="row">
        <button type="button" onClick={() => previewLabels(draft)} disabled={labelsProblem !== null}
          title={labelsProblem ?? 'count the rows these labels mark positive'}>Preview</button>
        <button type="button" className="secondary" onClick={() => removeGuidanceTarget(draft.id)}>Remove {draft.id}</button>
      </div>
      {preview && (
        <p className={preview.error ? 'warn small' : 'small'} role="status" data-testid={`preview-${draft.id}`}>
          {preview.pending ? 'Counting…' : preview.error ?? preview.text}
        </p>
      )}
    </fieldset>
  );
}

export function GuidancePanel() {
  const drafts = useStore((s) => s.guidance);
  const dataset = useStore((s) => s.dataset);
  const dSae = useStore((s) => s.resolved?.d_sae ?? s.form.d_sae);
  const active = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  return (
    <section className="panel" aria-labelledby="guidance-title">
      <h2 id="guidance-title">Guidance targets</h2>
      {drafts.length === 0 && (
        <p className="muted small">Steer a latent towards a concept: pick a latent and label the rows with a labels file or a token rule.</p>
      )}
      {drafts.map((d) => <TargetEditor key={d.id} draft={d} dataset={dataset} dSae={dSae} />)}
      <div className="row">
        <button type="button" onClick={() => addGuidanceTarget()}>Add target</button>
      </div>
      {active && drafts.length > 0 && <p className="muted small">Changes apply to the running job at its next step.</p>}
    </section>
  );
}
