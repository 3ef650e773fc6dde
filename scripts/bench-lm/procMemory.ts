// Resident memory of the Chromium processes this Node process started (Linux /proc), sampled on a
// timer while a benchmark runs in the page: what a worker's tensors, wasm heap and file buffers
// really take, which the worker's own figures (performance.memory, tf.memory()) do not show whole.
// Processes are grouped by Chromium's --type (renderer, gpu-process, utility; none = the browser).
// Only descendants of `root` count, so other Chromiums on the machine are left out.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcPeaks {
  /** Peak of the summed RSS per process type, bytes. */
  byType: Record<string, number>;
  /** CPU seconds (user + system) per process type between the first and the last sample. */
  cpuSByType: Record<string, number>;
  /** Seconds between the first and the last sample. */
  seconds: number;
  /** Peak of the summed RSS of every Chromium process, bytes. */
  total: number;
  samples: number;
}

const PAGE = 4096;

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS = 100;

function stat(pid: string): { ppid: number; rss: number; cpuS: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state ppid … ; utime, stime and rss are fields 14, 15 and 24 of stat.
    return { ppid: Number(f[1]), rss: Number(f[21]) * PAGE, cpuS: (Number(f[11]) + Number(f[12])) / TICKS };
  } catch {
    return null;
  }
}

/** Start sampling every `everyMs`; stop() returns the peaks (null where /proc is missing). */
export function sampleChromiumMemory(root = process.pid, everyMs = 200): { stop(): ProcPeaks | null } {
  if (!existsSync('/proc/self/stat')) return { stop: () => null };
  const peaks: ProcPeaks = { byType: {}, cpuSByType: {}, seconds: 0, total: 0, samples: 0 };
  /** CPU seconds of each process at its first sample, and its latest, with its type. */
  const cpu = new Map<number, { first: number; last: number; type: string }>();
  const t0 = Date.now();
  const once = () => {
    const parent = new Map<number, { ppid: number; rss: number; cpuS: number }>();
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const s = stat(pid);
      if (s) parent.set(Number(pid), s);
    }
    const isMine = (pid: number) => {
      for (let p = pid, depth = 0; p > 1 && depth < 32; depth++) {
        const s = parent.get(p);
        if (!s) return false;
        if (s.ppid === root) return true;
        p = s.ppid;
      }
      return false;
    };
    const sums: Record<string, number> = {};
    let total = 0;
    for (const [pid, s] of parent) {
      if (!isMine(pid)) continue;
      // Read every time: a process forked from Chromium's zygote takes its own command line later.
      let type: string | null = null;
      try {
        // NUL-separated, or one space-separated string once Chromium has retitled the process.
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (/chrom/i.test(cmd.split(' ')[0] ?? '')) type = /(?:^| )--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
      } catch { /* gone */ }
      if (!type) continue;
      const c = cpu.get(pid);
      if (c && c.type === type) c.last = s.cpuS;
      else cpu.set(pid, { first: s.cpuS, last: s.cpuS, type });
      sums[type] = (sums[type] ?? 0) + s.rss;
      total += s.rss;
    }
    for (const [t, v] of Object.entries(sums)) peaks.byType[t] = Math.max(peaks.byType[t] ?? 0, v);
    peaks.total = Math.max(peaks.total, total);
    peaks.samples += 1;
    peaks.cpuSByType = {};
    for (const c of cpu.values()) peaks.cpuSByType[c.type] = (peaks.cpuSByType[c.type] ?? 0) + c.last - c.first;
    peaks.seconds = (Date.now() - t0) / 1000;
  };
  once();
  const timer = setInterval(once, everyMs);
  return {
    stop() {
      clearInterval(timer);
      once();
      return peaks;
    },
  };
}
