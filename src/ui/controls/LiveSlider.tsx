// A slider for a live parameter. Log-scale sliders move in log10 space so that one drag covers
// several orders of magnitude; changes are throttled to at most 10 messages a second.
import { useEffect, useId, useRef, useState } from 'react';
import { formatNumber } from '../../app/format';

interface Props {
  label: string;
  value: number;
  onChange: (v: number) => void;
  min: number;
  max: number;
  log?: boolean;
  integer?: boolean;
  /** Allow 0 on a log slider (its leftmost position). */
  allowZero?: boolean;
  disabled?: boolean;
  help?: string;
}

const STEPS = 200;

export function LiveSlider({ label, value, onChange, min, max, log, integer, allowZero, disabled, help }: Props) {
  const id = useId();
  const [shown, setShown] = useState(value);
  const last = useRef(0);
  const pending = useRef<number | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => { setShown(value); }, [value]);
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);

  const toPos = (v: number) => {
    if (!log) return Math.round(((v - min) / (max - min)) * STEPS);
    if (allowZero && v <= 0) return 0;
    const lo = Math.log10(min), hi = Math.log10(max);
    return Math.round(((Math.log10(Math.min(max, Math.max(min, v))) - lo) / (hi - lo)) * STEPS);
  };
  const fromPos = (p: number) => {
    if (!log) { const v = min + (p / STEPS) * (max - min); return integer ? Math.round(v) : v; }
    if (allowZero && p === 0) return 0;
    const lo = Math.log10(min), hi = Math.log10(max);
    return Number((10 ** (lo + (p / STEPS) * (hi - lo))).toPrecision(3));
  };

  const emit = (v: number) => {
    const now = performance.now();
    if (now - last.current >= 100) {
      last.current = now;
      onChange(v);
    } else {
      pending.current = v;
      if (!timer.current) {
        timer.current = setTimeout(() => {
          timer.current = null;
          last.current = performance.now();
          if (pending.current !== null) onChange(pending.current);
          pending.current = null;
        }, 100);
      }
    }
  };

  return (
    <div className="slider" title={help}>
      <div className="slider-head">
        <label htmlFor={id}>{label}</label>
        <output htmlFor={id}>{formatNumber(shown)}</output>
      </div>
      <input
        id={id}
        type="range"
        min={0}
        max={STEPS}
        step={1}
        value={toPos(shown)}
        disabled={disabled}
        aria-valuetext={formatNumber(shown)}
        onChange={(e) => {
          const v = fromPos(Number(e.target.value));
          setShown(v);
          emit(v);
        }}
      />
    </div>
  );
}
