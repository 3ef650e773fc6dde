// The target-L0 controller: how the trainer moves λ so that a penalty variant's L0 settles on its target.

/**
 * The target-L0 controller: a PI controller on log λ with the log-ratio of measured to target L0
 * fraction as its error e. Each update moves log λ by ki·e + kp·(e − e_prev) (the velocity form
 * of PI), bounded by ±maxStep. The integral term removes any steady offset whatever the variant's
 * λ-to-L0 curve; the proportional term damps overshoot. Anti-windup: while L0 is already heading
 * for the target fast enough to get there within `horizon` updates, the integral term pauses.
 * That matters for JumpReLU, whose L0 moves only as fast as Adam moves the thresholds (about lr per
 * step, whatever λ is): raising λ further then buys no speed, only an overshoot later.
 */
export class LambdaController {
  private lastError: number | null = null;
  /** Smoothed change of the error per update (batch noise would otherwise flip the pause on and off). */
  private rate = 0;
  /** Gains are per `STEPS_PER_UNIT` training steps; updates that span more steps scale them. */
  static readonly STEPS_PER_UNIT = 10;
  constructor(private readonly ki = 0.1, private readonly kp = 0.5, private readonly maxStep = 0.15, private readonly horizon = 50) {}
  get state(): { lastError: number | null; rate: number } { return { lastError: this.lastError, rate: this.rate }; }
  set state(s: { lastError: number | null; rate: number }) { this.lastError = s.lastError; this.rate = s.rate; }
  /**
   * The next λ, given the current λ, the measured and target L0 fractions, and the number of
   * training steps since the previous update (so the controller is as fast whatever log_every is).
   */
  update(lambda: number, measured: number, target: number, steps = LambdaController.STEPS_PER_UNIT): number {
    const units = Math.max(1e-3, steps / LambdaController.STEPS_PER_UNIT);
    const error = Math.log(Math.max(measured, 1e-6) / target);
    const change = this.lastError === null ? 0 : error - this.lastError;
    this.lastError = error;
    const keep = 0.8 ** units;
    this.rate = keep * this.rate + (1 - keep) * (change / units); // per unit
    const closing = error * this.rate < 0 && Math.abs(error) < this.horizon * Math.abs(this.rate);
    const bound = this.maxStep * units;
    const delta = Math.max(-bound, Math.min(bound, (closing ? 0 : this.ki * units * error) + this.kp * change));
    return Math.min(1e6, Math.max(1e-8, lambda * Math.exp(delta)));
  }
}
