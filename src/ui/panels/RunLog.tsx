// State changes, live-parameter events (with the step they took effect) and errors, newest last.
import { useLayoutEffect, useRef } from 'react';
import { useStore } from '../../store/store';

export function RunLog() {
  const log = useStore((s) => s.log);
  const list = useRef<HTMLOListElement>(null);
  /** Whether the list was scrolled to its end before the newest line came (then it follows it). */
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    // The list's own scroll only: scrollIntoView would scroll the page too, pulling a researcher
    // who is looking at the charts down to the log whenever a line arrives.
    const el = list.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [log]);
  const onScroll = () => {
    const el = list.current;
    if (el) atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
  };
  return (
    <section className="panel" aria-labelledby="log-title">
      <h2 id="log-title">Run log</h2>
      <ol className="runlog" role="log" aria-label="Run log" ref={list} onScroll={onScroll}>
        {log.map((line, i) => <li key={i}>{line}</li>)}
      </ol>
    </section>
  );
}
