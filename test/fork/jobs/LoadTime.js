// A module that does at load time what real applications do: starts timers (global and imported
// from node:timers), registers signal handlers, and draws random numbers and UUIDs, filling the
// caches that every forked child would otherwise inherit.
import { randomUUID } from 'node:crypto';
import { setInterval as importedSetInterval } from 'node:timers';

let ticks = 0;
const tick = () => {
  ticks++;
};
setInterval(tick, 5);
importedSetInterval(tick, 7);
setTimeout(tick, 40);
setImmediate(tick);
process.on('SIGTERM', () => {});
process.on('SIGUSR2', () => {});

export const loadedWith = { uuid: randomUUID(), random: Math.random() };
export const loadTimeTicks = () => ticks;

export function perform() {}
