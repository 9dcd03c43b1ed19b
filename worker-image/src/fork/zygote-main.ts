// The zygote process: `node --single-threaded zygote-main.ts JOBS_DIR`, started by startZygote()
// (zygote.ts) with its command channel as fd 3. It loads the job modules once, then waits for
// commands and forks one child per job. It never returns to its event loop once serving: commands
// are read synchronously, so the loop that every child inherits has no handle on the channel.
//
// --single-threaded matters: a forked child has only the thread that called fork(), and V8 would
// otherwise hand GC and compilation work to threads the child does not have, and wait forever.
import { closeSync, readSync } from 'node:fs';
import { loadProcessAddon, type ProcessAddon } from '../process-addon.ts';
import { guardRandomUUID, makeForkSafe, runForkedJob, warmUpForChildren, type ForkedChild } from './forked-child.ts';
import { loadJobModules } from './job-modules.ts';
import { LineSplitter } from '../line-splitter.ts';
import {
  CHANNEL_FD,
  parseChildReport,
  parseCommand,
  MASTER_PID_ENV,
  toJobError,
  writeLine,
  type RunCommand,
  type ZygoteEvent,
} from './zygote-protocol.ts';
import { trackTimers } from './timers.ts';
import { signalName } from '../outcome.ts';

const POLLIN_OR_HANGUP = 0x001 | 0x008 | 0x010 | 0x020; // POLLIN | POLLERR | POLLHUP | POLLNVAL

/**
 * Events for the master wait here for the end of the serve loop's turn (or a fork, which takes a while) and
 * go out in one write: a child's exit and the next job's start, say, wake the master once, not twice.
 */
const outbox: string[] = [];

function send(event: ZygoteEvent): void {
  outbox.push(JSON.stringify(event));
}

function flush(): void {
  if (outbox.length === 0) return;
  const text = outbox.join('\n');
  outbox.length = 0;
  writeLine(CHANNEL_FD, text);
}

/** SIGKILL to a child's process group (see process.c); one already gone is not an error. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left
  }
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Reads what is there: a Buffer, 'eof', or 'none' when a spurious wake-up left nothing to read. */
function readAvailable(fd: number, buf: Buffer): Buffer | 'eof' | 'none' {
  try {
    const n = readSync(fd, buf);
    return n === 0 ? 'eof' : buf.subarray(0, n);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EAGAIN' || code === 'EINTR') return 'none';
    if (code === 'ECONNRESET') return 'eof';
    throw err;
  }
}

/** In a spare child: blocks until the zygote writes its one command (or closes the pipe: then it exits). */
function waitForCommand(addon: ProcessAddon, fd: number): RunCommand {
  const lines = new LineSplitter();
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    addon.poll([fd], -1);
    const chunk = readAvailable(fd, buf);
    if (chunk === 'eof') return addon.exit(0);
    if (chunk === 'none') continue;
    for (const line of lines.push(chunk)) {
      const parsed = parseCommand(line);
      if (parsed.ok) return parsed.value;
    }
  }
}

interface Running {
  id: string;
  pid: number;
  /** The read end of the child's result pipe; null once it reached end of file. */
  resultFd: number | null;
  pidFd: number;
  lines: LineSplitter;
}

/** A child forked ahead of its job, blocked until the zygote writes it one command. */
interface Spare {
  pid: number;
  pidFd: number;
  resultFd: number;
  /** The write end of the spare's command pipe. */
  commandFd: number;
}

class Server {
  readonly #addon: ProcessAddon;
  readonly #running = new Map<number, Running>();
  /** Forking costs milliseconds: a spare forked while the zygote is idle takes the next job at once. */
  #spare: Spare | null = null;
  /** Spares found dead when handed a job, by pid: their pidfds, until they are reaped. */
  readonly #dead = new Map<number, number>();
  readonly #commands = new LineSplitter();
  readonly #buf = Buffer.alloc(64 * 1024);

  /** Makes a just-forked child safe (closing the given zygote descriptors), before it waits or runs. */
  readonly #prepareChild: (inheritedFds: readonly number[]) => void;

  constructor(addon: ProcessAddon, prepareChild: (inheritedFds: readonly number[]) => void) {
    this.#addon = addon;
    this.#prepareChild = prepareChild;
  }

  /**
   * Serves until a fork: returns in the child only. In the zygote it ends with the process. `onReady`
   * is called once the first spare exists, so that a ready zygote always holds one.
   */
  serve(onReady: () => void): ForkedChild {
    for (let first = true; ; first = false) {
      if (this.#spare === null) {
        const child = this.#forkSpare();
        if (child !== null) return child;
      }
      if (first) onReady();
      const running = [...this.#running.values()];
      const spareFds = this.#spare === null ? [] : [this.#spare.pidFd];
      const fds = [CHANNEL_FD, ...spareFds, ...this.#dead.values(), ...running.flatMap((r) => (r.resultFd === null ? [r.pidFd] : [r.resultFd, r.pidFd]))];
      flush();
      const revents = this.#addon.poll(fds, -1);
      const ready = new Set(fds.filter((_, i) => ((revents[i] ?? 0) & POLLIN_OR_HANGUP) !== 0));
      if (this.#spare !== null && ready.has(this.#spare.pidFd)) this.#discardSpare();
      for (const [pid, pidFd] of this.#dead) if (ready.has(pidFd)) this.#reapDead(pid, pidFd);
      // Results before exits, so that the master always hears a child's result first.
      for (const r of running) {
        if (r.resultFd !== null && ready.has(r.resultFd)) this.#relayResults(r);
        if (ready.has(r.pidFd)) this.#reap(r);
      }
      if (!ready.has(CHANNEL_FD)) continue;
      const chunk = readAvailable(CHANNEL_FD, this.#buf);
      if (chunk === 'eof') return this.#shutdown();
      if (chunk === 'none') continue;
      for (const line of this.#commands.push(chunk)) {
        const parsed = parseCommand(line);
        if (!parsed.ok) {
          send({ type: 'log', level: 'error', msg: `zygote: invalid command ignored: ${parsed.reason}` });
          continue;
        }
        if (this.#spare !== null && this.#handToSpare(this.#spare, parsed.value)) continue;
        const child = this.#fork(parsed.value);
        if (child !== null) return child;
      }
    }
  }

  #fork(command: RunCommand): ForkedChild | null {
    let resultFd: number, reportFd: number, pid: number;
    try {
      [resultFd, reportFd] = this.#addon.pipe();
    } catch (err) {
      send({ type: 'forkFailed', id: command.id, error: toJobError(err).message });
      return null;
    }
    flush();
    try {
      pid = this.#addon.fork();
    } catch (err) {
      closeSync(resultFd);
      closeSync(reportFd);
      send({ type: 'forkFailed', id: command.id, error: toJobError(err).message });
      return null;
    }
    if (pid === 0) {
      const inheritedFds = [CHANNEL_FD, resultFd, ...this.#childrenFds()];
      this.#prepareChild(inheritedFds);
      return { command, reportFd, inheritedFds };
    }
    closeSync(reportFd);
    // pidfd_open cannot fail for our own unreaped child short of running out of descriptors.
    const pidFd = this.#addon.pidfdOpen(pid);
    this.#running.set(pid, { id: command.id, pid, resultFd, pidFd, lines: new LineSplitter() });
    send({ type: 'forked', id: command.id, pid });
    return null;
  }

  /** Forks a spare; returns in the spare only, once its command arrived, as a ForkedChild. */
  #forkSpare(): ForkedChild | null {
    let resultFd: number, reportFd: number, commandReadFd: number, commandFd: number, pid: number;
    try {
      [resultFd, reportFd] = this.#addon.pipe();
      [commandReadFd, commandFd] = this.#addon.pipe();
      flush();
      pid = this.#addon.fork();
    } catch (err) {
      // No spare: jobs are forked when they arrive, as without one.
      send({ type: 'log', level: 'warn', msg: `zygote: cannot fork a spare child: ${toJobError(err).message}` });
      return null;
    }
    if (pid === 0) {
      const inheritedFds = [CHANNEL_FD, resultFd, commandFd, ...this.#childrenFds()];
      this.#prepareChild(inheritedFds);
      const command = waitForCommand(this.#addon, commandReadFd);
      closeSync(commandReadFd);
      return { command, reportFd, inheritedFds };
    }
    closeSync(reportFd);
    closeSync(commandReadFd);
    this.#spare = { pid, pidFd: this.#addon.pidfdOpen(pid), resultFd, commandFd };
    return null;
  }

  /** The descriptors the zygote holds for its children: a new child closes them (see makeForkSafe). */
  #childrenFds(): number[] {
    const fds = [...this.#dead.values()];
    for (const r of this.#running.values()) fds.push(r.pidFd, ...(r.resultFd === null ? [] : [r.resultFd]));
    return fds;
  }

  /**
   * Writes the spare its command; false when the spare is gone. It may have died after the zygote last looked
   * (its pidfd polls readable only once its exit is done, after its end of the pipe closed): the write then
   * fails with EPIPE, and the job is forked afresh.
   */
  #handToSpare(spare: Spare, command: RunCommand): boolean {
    this.#spare = null;
    try {
      writeLine(spare.commandFd, JSON.stringify(command));
    } catch {
      send({ type: 'log', level: 'warn', msg: `zygote: the spare child ${spare.pid} died before it was handed a job; forking another` });
      closeSync(spare.commandFd);
      closeSync(spare.resultFd);
      killGroup(spare.pid); // it is dying already
      this.#dead.set(spare.pid, spare.pidFd);
      return false;
    }
    closeSync(spare.commandFd);
    this.#running.set(spare.pid, { id: command.id, pid: spare.pid, resultFd: spare.resultFd, pidFd: spare.pidFd, lines: new LineSplitter() });
    send({ type: 'forked', id: command.id, pid: spare.pid });
    return true;
  }

  /** A spare found dead when handed a job is reaped once its pidfd says it has exited. */
  #reapDead(pid: number, pidFd: number): void {
    if (this.#addon.waitpid(pid) === null) return;
    closeSync(pidFd);
    this.#dead.delete(pid);
  }

  /** A spare that died before it had a job (killed from outside): reaped, and replaced on the next turn. */
  #discardSpare(): void {
    const spare = this.#spare;
    if (spare === null || this.#addon.waitpid(spare.pid) === null) return;
    this.#spare = null;
    for (const fd of [spare.pidFd, spare.resultFd, spare.commandFd]) closeSync(fd);
  }

  #relayResults(r: Running): void {
    while (r.resultFd !== null) {
      const chunk = readAvailable(r.resultFd, this.#buf);
      if (chunk === 'none') return;
      if (chunk === 'eof') {
        closeSync(r.resultFd);
        r.resultFd = null;
        return;
      }
      for (const line of r.lines.push(chunk)) {
        const report = parseChildReport(line);
        if (report.ok) send({ ...report.value, id: r.id });
        else send({ type: 'log', level: 'warn', msg: `zygote: child ${r.pid} wrote an invalid report: ${line.slice(0, 200)}` });
      }
    }
  }

  #reap(r: Running): void {
    const status = this.#addon.waitpid(r.pid);
    if (status === null) return;
    // The child is gone, so what it wrote is all in the pipe (unless a grandchild holds it open).
    this.#relayResults(r);
    if (r.resultFd !== null) closeSync(r.resultFd);
    closeSync(r.pidFd);
    this.#running.delete(r.pid);
    const signal = status.signal === null ? null : signalName(status.signal);
    send({ type: 'exit', id: r.id, pid: r.pid, code: status.code, signal });
  }

  /** The master closed the channel: kill what still runs, reap it, and exit. */
  #shutdown(): never {
    const spare = this.#spare;
    if (spare !== null) {
      this.#spare = null;
      killGroup(spare.pid);
      this.#running.set(spare.pid, { id: '', pid: spare.pid, resultFd: spare.resultFd, pidFd: spare.pidFd, lines: new LineSplitter() });
      closeSync(spare.commandFd);
    }
    // Each child leads a process group of its own: the processes its job started go with it.
    for (const r of this.#running.values()) killGroup(r.pid);
    const flushIfHeard = (): void => {
      try {
        flush();
      } catch {
        // The master is gone: the exit reports have nowhere to go.
      }
    };
    while (this.#running.size > 0) {
      flushIfHeard();
      const running = [...this.#running.values()];
      this.#addon.poll(running.map((r) => r.pidFd), 1000);
      for (const r of running) {
        try {
          this.#reap(r);
        } catch {
          // The master is gone: the exit report has nowhere to go.
        }
      }
    }
    flushIfHeard();
    return process.exit(0);
  }
}

async function main(): Promise<void> {
  const jobsDir = process.argv[2];
  const masterPid = Number(process.env[MASTER_PID_ENV]);
  const fatal = (err: unknown): never => {
    send({ type: 'fatal', error: toJobError(err) });
    flush();
    return process.exit(1);
  };
  if (jobsDir === undefined) return fatal(new Error('usage: zygote-main JOBS_DIR'));
  const load = loadProcessAddon();
  if (!load.ok) return fatal(new Error(load.reason));
  const { addon } = load;
  if (!Number.isInteger(masterPid) || !addon.dieWithParent(masterPid)) return fatal(new Error('the master is gone'));
  process.title = 'forkpool-zygote';
  // Before any job module runs, so that the timers those modules start can be cleared in children.
  const timers = trackTimers();
  // Likewise before job modules import node:crypto: see forked-child.ts.
  guardRandomUUID();
  let jobs;
  try {
    jobs = await loadJobModules(jobsDir);
    if ('hooks' in jobs.hooks) await jobs.hooks.hooks.beforeFork?.();
    else send({ type: 'log', level: 'error', msg: `hooks module: ${jobs.hooks.error.message}; every job fails with ${jobs.hooks.error.name} until it is fixed` });
  } catch (err) {
    return fatal(err);
  }
  warmUpForChildren();
  const deps = { addon, jobs, timers };
  const server = new Server(addon, (inheritedFds) => makeForkSafe(inheritedFds, deps));
  const child = server.serve(() => send({ type: 'ready', jobs: jobs.classes, loadErrors: jobs.loadErrors }));
  await runForkedJob(child, deps);
}

await main();
