// Child processes of the test cluster: each in a process group of its own, its output in a log
// file, killed with its whole group on stop and, through the binary's parent-death guard and an
// exit hook, when the process that started it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** The environment variable the kube binary reads to arm its parent-death signal. */
const parentPidEnv = 'KUBE_PARENT_PID';

/** How a component ended: an exit code, a signal, or a failure to start at all. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A started component; `exited` settles when it is gone, however it went. */
export interface Component {
  readonly name: string;
  readonly logPath: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  /** True once stop() was asked for, so that an exit is not reported as a crash. */
  stopping: boolean;
}

const running = new Set<Component>();
let exitHookInstalled = false;

/** Kills every component still running, synchronously: the last word of a dying test process. */
function killAllNow(): void {
  for (const component of running) {
    killGroup(component, 'SIGKILL');
  }
}

function killGroup(component: Component, signal: NodeJS.Signals): void {
  const pid = component.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Starts `command` in a new process group, appending its output to `logPath`. */
export function startComponent(name: string, command: string, args: string[], logPath: string, env: NodeJS.ProcessEnv = {}): Component {
  if (!exitHookInstalled) {
    process.on('exit', killAllNow);
    exitHookInstalled = true;
  }
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...env, [parentPidEnv]: String(process.pid) },
    });
  } finally {
    closeSync(log);
  }
  // The cluster must not keep a test process alive on its own: the exit hook cleans up.
  child.unref();
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const component: Component = { name, logPath, child, exited, stopping: false };
  running.add(component);
  void exited.then(() => running.delete(component));
  return component;
}

/** Stops a component: SIGTERM to its group, SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopComponent(component: Component, graceMs = 10_000): Promise<void> {
  component.stopping = true;
  // Whoever stops a component waits for it: its exit must keep the event loop alive.
  component.child.ref();
  if (component.child.exitCode !== null || component.child.signalCode !== null) return;
  killGroup(component, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const outcome = await Promise.race([component.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    killGroup(component, 'SIGKILL');
    await component.exited;
  }
}

/** The last `lines` lines of a component's log, for error messages. */
export function logTail(component: Component, lines = 30): string {
  let text: string;
  try {
    text = readFileSync(component.logPath, 'utf8');
  } catch {
    return `(no log at ${component.logPath})`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return `--- last lines of ${component.logPath} ---\n${tail}`;
}

/** Describes how a component ended, for error messages. */
export function describeExit(component: Component): string {
  const { exitCode, signalCode } = component.child;
  if (signalCode !== null) return `${component.name} was killed by ${signalCode}`;
  if (exitCode !== null) return `${component.name} exited with code ${exitCode}`;
  return `${component.name} is running`;
}
