// Child-process and statistics helpers shared by the suites: pinned children with an IPC channel,
// stopped by their PID; IPC waits with a deadline; median.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let pinnable;
/** Whether `taskset` works here (children are then pinned: server CPU 1, client CPU 0). */
export function hasTaskset() {
  if (pinnable === undefined) {
    try {
      pinnable = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0;
    } catch {
      pinnable = false;
    }
  }
  return pinnable;
}

/**
 * Starts `node <script> ...args` with an IPC channel, pinned to `cpu` when given (and taskset
 * works). FAULTLINE_BENCH_PROF=<dir>: CPU profiles of the children (node --cpu-prof).
 */
export function startNode(script, args = [], cpu = undefined) {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
  const prof = process.env.FAULTLINE_BENCH_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FAULTLINE_BENCH_PROF}`]
    : [];
  const argv = [...prof, script, ...args];
  return cpu === undefined || !hasTaskset()
    ? spawn(process.execPath, argv, { stdio })
    : spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { stdio });
}

/** Ends a child we started, by its pid: SIGTERM, then SIGKILL. */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The first IPC message of `child` that `pred` accepts, within `ms`. */
export function message(child, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => {
      clearTimeout(t);
      child.off('message', on);
      reject(new Error(`${what}: child exited with ${code}`));
    };
    const t = setTimeout(() => {
      child.off('message', on);
      child.off('exit', onExit);
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    const on = (m) => {
      if (!pred(m)) return;
      clearTimeout(t);
      child.off('message', on);
      child.off('exit', onExit);
      resolve(m);
    };
    child.on('message', on);
    child.once('exit', onExit);
  });
}

export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const r3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

// ---------------------------------------------------------------- foreign load
// The machine is shared (other engineers run tests and builds): a sampler of the CPU time spent by
// processes other than ours over a window, from /proc (Linux; null elsewhere). Busy jiffies of all
// CPUs (user, nice, system; not irq/softirq, which is mostly our own loopback traffic, nor steal)
// minus the jiffies of the given pids (utime + stime) and of this process.
const TICK_US = 10_000; // USER_HZ = 100 on Linux
function busyJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return f[0] + f[1] + f[2];
}
function pidJiffies(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Starts a window; `end()` returns the foreign CPU over it, in CPUs (0.5 = half a core), or null. */
export function foreignLoad(pids) {
  let t0;
  try {
    t0 = { wall: performance.now(), busy: busyJiffies(), ours: pids.map(pidJiffies), self: process.cpuUsage() };
  } catch {
    return { end: () => null };
  }
  return {
    end() {
      const wallUs = (performance.now() - t0.wall) * 1000;
      const busy = (busyJiffies() - t0.busy) * TICK_US;
      const ours = pids.reduce((sum, pid, i) => sum + (pidJiffies(pid) - t0.ours[i]) * TICK_US, 0);
      const self = process.cpuUsage(t0.self);
      const foreign = busy - ours - self.user - self.system;
      return wallUs > 0 ? Math.max(0, foreign / wallUs) : null;
    },
  };
}
