// Sliders that change the running job at its next step.
import { updateLive } from '../../worker/client';
import { useStore } from '../../store/store';
import { LiveSlider } from '../controls/LiveSlider';

export function LivePanel() {
  const live = useStore((s) => s.live);
  const arch = useStore((s) => s.resolved?.architecture ?? s.form.architecture);
  const dSae = useStore((s) => s.resolved?.d_sae ?? s.form.d_sae);
  const active = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  if (!live || !active) {
    return (
      <section className="panel" aria-labelledby="live-title">
        <h2 id="live-title">Live sliders</h2>
        <p className="muted small">Start a run to tune learning rate, λ, k, bandwidth and threshold while it trains.</p>
      </section>
    );
  }
  return (
    <section className="panel" aria-labelledby="live-title">
      <h2 id="live-title">Live sliders</h2>
      <LiveSlider label="Learning rate" value={live.lr} min={1e-5} max={1e-1} log onChange={(lr) => updateLive({ lr })} />
      {arch !== 'topk' && (
        <LiveSlider label="Sparsity λ" value={live.lambda} min={1e-4} max={100} log allowZero onChange={(lambda) => updateLive({ lambda })}
          help={arch === 'relu' ? 'coefficient of the L1 penalty' : 'coefficient of the L0 penalty'} />
      )}
      {arch === 'topk' && (
        <LiveSlider label="k" value={live.k} min={1} max={Math.min(dSae, 256)} integer onChange={(k) => updateLive({ k })} />
      )}
      {arch === 'jumprelu' && (
        <LiveSlider label="Bandwidth" value={live.bandwidth} min={1e-4} max={1} log onChange={(bandwidth) => updateLive({ bandwidth })}
          help="small: exact but noisy threshold gradients; large: smooth but biased" />
      )}
      <LiveSlider label="Threshold" value={live.threshold} min={1e-4} max={10} log allowZero={arch !== 'jumprelu'} onChange={(threshold) => updateLive({ threshold })}
        help={arch === 'jumprelu' ? 'sets every latent’s θ; learning continues from there' : 'inference threshold: activations at or below it count as zero in metrics'} />
    </section>
  );
}
