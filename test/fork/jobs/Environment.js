// Writes to args[0] (JSON) what a forked child and a program it starts see of LD_PRELOAD, and whether
// process.node is mapped in that program: the zygote's preload must not reach them.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export async function perform(out) {
  const script = 'printf "%s|%s\\n" "${LD_PRELOAD-unset}" "${FORKPOOL_GATHER_HEAP-unset}"; cat /proc/self/maps';
  const output = await new Promise((resolve, reject) =>
    execFile('sh', ['-c', script], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const [vars = '', ...maps] = output.split('\n');
  const [programPreload, programGather] = vars.split('|');
  writeFileSync(out, JSON.stringify({
    childPreload: process.env.LD_PRELOAD ?? 'unset',
    childGather: process.env.FORKPOOL_GATHER_HEAP ?? 'unset',
    programPreload,
    programGather,
    programMapsAddon: maps.some((line) => line.endsWith('/process.node')),
  }));
}
