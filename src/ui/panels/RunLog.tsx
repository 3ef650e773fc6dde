// State changes, live-parameter events (with the step they took effect) and errors, newest last.
import { useEffect, useRef } from 'react';
import { useStore } from '../../store/store';

export function RunLog() {
  const log = useStore((s) => s.log);
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    // A block body: in recent Chromium scrollIntoView returns a Promise, which React would take for a cleanup.
    void end.current?.scrollIntoView({ block: 'nearest' });
  }, [log]);
  return (
    <section className="panel" aria-labelledby="log-title">
      <h2 id="log-title">Run log</h2>
      <ol className="runlog" role="log" aria-label="Run log">
        {log.map((line, i) => <li key={i} ref={i === log.length - 1 ? end : undefined}>{line}</li>)}
      </ol>
    </section>
  );
}
