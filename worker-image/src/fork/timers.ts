// Timers created in the zygote (by job modules at load time, by the hooks) would fire in every
// forked child: the child inherits the zygote's timer list, and after fork nothing distinguishes
// them. Node cannot list its timers, so the zygote records every timer made through the public
// functions, and each child clears them before it runs its job.
//
// Not covered: node:timers/promises (its timers have no handle to clear) and timers that Node
// creates internally (socket timeouts: close such sockets in beforeFork or afterFork).
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { promisify } from 'node:util';

type TimerFns = Pick<typeof globalThis, 'setTimeout' | 'setInterval' | 'setImmediate'>;
type TimerName = keyof TimerFns;
const NAMES: TimerName[] = ['setTimeout', 'setInterval', 'setImmediate'];

/** Records every timer made from now on; call `clearAndStop` in a forked child. */
export interface TimerTracker {
  /** Timers recorded and not yet cleared (fired ones included: clearing them is harmless). */
  readonly size: number;
  /** Clears every recorded timer and records no more. The replacements stay installed (putting
   * Node's functions back costs a sync of every builtin module), passing calls straight through. */
  clearAndStop(): void;
}

export function trackTimers(): TimerTracker {
  // `import { setTimeout } from 'node:timers'` binds to this object's properties (once synced),
  // `setTimeout(...)` to the global's: both must be replaced.
  const timersModule = createRequire(import.meta.url)('node:timers') as TimerFns;
  const original: TimerFns = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    setImmediate: globalThis.setImmediate,
  };
  const timeouts = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();
  let tracking = true;

  const tracked: TimerFns = {
    setTimeout: ((...args: Parameters<typeof setTimeout>) => {
      const t = original.setTimeout(...args);
      if (tracking) timeouts.add(t);
      return t;
    }) as typeof setTimeout,
    setInterval: (...args: Parameters<typeof setInterval>) => {
      const t = original.setInterval(...args);
      if (tracking) timeouts.add(t);
      return t;
    },
    setImmediate: ((...args: Parameters<typeof setImmediate>) => {
      const i = original.setImmediate(...args);
      if (tracking) immediates.add(i);
      return i;
    }) as typeof setImmediate,
  };
  // util.promisify(setTimeout) reads a property of the function: keep it on the replacements.
  for (const name of ['setTimeout', 'setImmediate'] as const) {
    const custom = Object.getOwnPropertyDescriptor(original[name], promisify.custom);
    if (custom !== undefined) Object.defineProperty(tracked[name], promisify.custom, custom);
  }
  for (const name of NAMES) {
    Object.assign(globalThis, { [name]: tracked[name] });
    Object.assign(timersModule, { [name]: tracked[name] });
  }
  syncBuiltinESMExports();

  return {
    get size() {
      return timeouts.size + immediates.size;
    },
    clearAndStop() {
      for (const t of timeouts) clearTimeout(t);
      for (const i of immediates) clearImmediate(i);
      timeouts.clear();
      immediates.clear();
      tracking = false;
    },
  };
}
