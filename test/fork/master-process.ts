// A stand-in master for the test of what happens when the master dies: starts a zygote, starts a
// long job, prints both pids as one JSON line, and waits to be killed.
import { JOBS_DIR } from './helpers.ts';
import { startZygote } from '../../worker-image/src/fork/zygote.ts';

const zygote = await startZygote({ jobsDir: JOBS_DIR });
const job = zygote.run('Sleep', [60_000]);
console.log(JSON.stringify({ zygotePid: zygote.pid, childPid: await job.started }));
setInterval(() => {}, 1000);
