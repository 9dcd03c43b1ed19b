// Runs another program from the forked child: libuv's process handles and SIGCHLD must work there.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export async function perform(out) {
  const stdout = await new Promise((resolve, reject) =>
    execFile('sh', ['-c', 'echo from-sh'], (err, output) => (err ? reject(err) : resolve(output))),
  );
  writeFileSync(out, stdout.trim());
}
