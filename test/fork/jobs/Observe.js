// Writes what a forked child sees of itself to args[0] (JSON), then lingers args[1] ms so that the
// test can look at the zygote while this child still runs. args[2] 'web' draws the Web Crypto UUID
// before the node:crypto one (the first draw in a child is the one that must not repeat the zygote's).
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadTimeTicks } from './LoadTime.js';

export async function perform(out, lingerMs = 0, uuidFirst = 'node') {
  const webFirst = uuidFirst === 'web' ? crypto.randomUUID() : undefined;
  const fds = {};
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds[fd] = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  const ticksAtStart = loadTimeTicks();
  await sleep(60);
  writeFileSync(
    out,
    JSON.stringify({
      pid: process.pid,
      realPid: Number(readlinkSync('/proc/self')),
      ppid: process.ppid,
      random: [Math.random(), Math.random()],
      uuid: randomUUID(),
      webUuid: webFirst ?? crypto.randomUUID(),
      title: process.title,
      cmdline: readFileSync('/proc/self/cmdline', 'utf8').replace(/\0+$/, ''),
      comm: readFileSync('/proc/self/comm', 'utf8').trim(),
      fds,
      signalListeners: { SIGTERM: process.listenerCount('SIGTERM'), SIGUSR2: process.listenerCount('SIGUSR2') },
      loadTimeTicks: { atStart: ticksAtStart, after60ms: loadTimeTicks() },
      hooks: globalThis.forkHooks ?? null,
    }),
  );
  await sleep(lingerMs);
}
