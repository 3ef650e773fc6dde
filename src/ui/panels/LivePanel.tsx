// Sliders that change the running job at its next step.
import { SPARSITY_KIND, lambdaKey, variantDeclaration } from '../../engine/config';
import { updateGuidanceTarget, useStore } from '../../store/store';
import { updateLive } from '../../app/client';
import { LiveSlider } from '../controls/LiveSlider';

export function LivePanel() {
  const live = useStore((s) => s.live);
  const resolved = useStore((s) => s.resolved);
  const guidance = useStore((s) => s.guidance);
  const active = useStore((s) => s.runState === 'running' || s.runState === 'paused');
  if (!live || !resolved || !active) {
    return (
      <section className="panel" aria-labelledby="live-title">
        <h2 id="live-title">Live sliders</h2>
        <p className="muted small">Start a run to tune learning rate, target L0, λ, k, bandwidth, threshold and guidance β while it trains.</p>
      </section>
    );
  }
  // Which sliders apply comes from the variant's declaration (src/engine/variants/*.decl.ts).
  const decl = variantDeclaration(resolved.architecture);
  const dSae = resolved.d_sae;
  const penalty = SPARSITY_KIND[resolved.architecture] === 'penalty';
  const lk = lambdaKey(resolved.architecture);
  const lambdaHelp = (lk && decl?.fields[lk]?.form?.help) || 'coefficient of the sparsity penalty';
  const learnedThreshold = decl?.live?.learnedThreshold !== undefined;
  const targetMode = resolved.sparsity_mode === 'target_l0';
  return (
    <section className="panel" aria-labelledby="live-title">
      <h2 id="live-title">Live sliders <span className="muted small normal">· applied at the next step</span></h2>
      <div className="sliders">
        <LiveSlider label="Learning rate" value={live.lr} min={1e-5} max={10} log onChange={(lr) => updateLive({ lr })}
          help="too high a rate makes the run diverge: it then pauses and rolls back to its last finite state" />
        {targetMode && (
          <LiveSlider label="Target L0 %" value={live.targetL0 * 100} min={0.5} max={50} log onChange={(v) => updateLive({ targetL0: v / 100 })}
            help={penalty ? 'fraction of active latents the λ controller steers towards' : 'k follows round(target × d_sae)'} />
        )}
        {penalty && (
          <LiveSlider label="Sparsity λ" value={live.lambda} min={1e-4} max={100} log allowZero onChange={(lambda) => updateLive({ lambda })}
            help={targetMode ? 'the controller moves λ towards the target L0; a change here is its new starting point' : lambdaHelp} />
        )}
        {!penalty && !targetMode && (
          <LiveSlider label="k" value={live.k} min={1} max={Math.min(dSae, 256)} integer onChange={(k) => updateLive({ k })} />
        )}
        {!penalty && targetMode && (
          <p className="small kline">k <strong>{live.k}</strong> <span className="muted">follows the target ({(live.targetL0 * 100).toFixed(1)}% of {dSae})</span></p>
        )}
        {decl?.live?.bandwidth && (
          <LiveSlider label="Bandwidth" value={live.bandwidth} min={1e-4} max={1} log onChange={(bandwidth) => updateLive({ bandwidth })}
            help={decl.live.bandwidthHelp} />
        )}
        <LiveSlider label="Threshold" value={live.threshold} min={1e-4} max={10} log allowZero={!learnedThreshold} onChange={(threshold) => updateLive({ threshold })}
          help={learnedThreshold ? 'sets every latent’s θ; learning continues from there' : 'inference threshold: activations at or below it count as zero in metrics'} />
        {guidance.map((g) => (
          <LiveSlider key={g.id} label={`Guidance β ${g.id} (latent ${g.latent})`} value={g.beta} min={1e-3} max={100} log allowZero
            onChange={(beta) => updateGuidanceTarget(g.id, { beta })} help="weight of this target’s loss; sent with the whole target list" />
        ))}
      </div>
    </section>
  );
}
