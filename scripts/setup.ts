// Makes the machine ready for `npm test` or `npm run demo` before they start: missing Debian packages are
// installed when this process may (as root, or `sudo -n` works); otherwise it stops at once with the command
// to run. Go is not a Debian package in a recent enough version: when it is missing it says how to install
// it. What is needed and the decision are in setup-plan.ts.
//
// scripts/test.ts and scripts/demo.ts call setUp() first; to set a machine up without running anything:
//
//   node_modules/.bin/node scripts/setup.ts test|demo
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsGo, planSetup, REQUIREMENTS, type Machine, type Purpose } from './setup-plan.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const forkAddon = join(root, 'worker-image/native/build/process.node');
const forkAddonSource = join(root, 'worker-image/native/process.c');

function onPath(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** Where worker-image/native/build.ts looks for Node's headers. */
function hasNodeHeaders(): boolean {
  const fromEnv = process.env['NODE_API_HEADERS'];
  const dirs = fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return dirs.some((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
}

function found(name: string): boolean {
  if (name === 'node_api.h') return hasNodeHeaders();
  if (name.startsWith('/')) return existsSync(name);
  return onPath(name);
}

/** As build.sh finds it: on the PATH, else /usr/local/go/bin/go. */
function goVersion(): string | undefined {
  for (const go of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.trim();
  }
  return undefined;
}

function privilege(): Machine['privilege'] {
  if (process.getuid?.() === 0) return 'root';
  return onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? 'sudo' : 'none';
}

export function lookAtMachine(purpose: Purpose): Machine {
  const goMod = readFileSync(join(root, 'test/cluster/go.mod'), 'utf8');
  let asked: Machine['privilege'] | undefined;
  return {
    found: new Set(REQUIREMENTS.map((r) => r.name).filter(found)),
    goVersion: needsGo(purpose) ? goVersion() : undefined,
    goWanted: /^go (\S+)$/m.exec(goMod)?.[1] ?? '1.26.0',
    arch: process.arch,
    // `sudo -n true` is tried only when something is to be installed.
    get privilege() {
      asked ??= privilege();
      return asked;
    },
    hasAptGet: onPath('apt-get'),
  };
}

const say = (m: string): void => console.log(`[set-up] ${m}`);

/**
 * Makes the machine ready for `purpose`, or prints what is missing with the command to run and exits 1.
 * Builds fork mode's addon when it is missing (npm ci skips it on a machine without gcc or Node's headers).
 */
export function setUp(purpose: Purpose): void {
  const machine = lookAtMachine(purpose);
  const plan = planSetup(purpose, machine);
  if (plan.install.length > 0) {
    const sudo = plan.sudo ? ['sudo', '-n'] : [];
    say(`installing ${plan.install.join(' ')} (apt-get${plan.sudo ? ' through sudo' : ''})`);
    const apt = (args: string[]): void => {
      const [cmd, ...rest] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args] as [string, ...string[]];
      execFileSync(cmd, rest, { stdio: 'inherit' });
    };
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', ...plan.install]);
  }
  if (plan.stop !== undefined) {
    console.error(plan.stop);
    process.exit(1);
  }
  const here = REQUIREMENTS.filter((r) => r.neededFor.includes(purpose)).map((r) => r.name);
  if (needsGo(purpose)) here.push(machine.goVersion ?? 'go');
  say(`here: ${here.join(', ')}`);
  if (purpose !== 'demo' && addonIsStale()) {
    say('building fork mode\'s native addon: node worker-image/native/build.ts');
    execFileSync(process.execPath, [join(root, 'worker-image/native/build.ts')], { stdio: 'inherit', cwd: root });
  }
}

/** The addon is missing, or older than its source (a checkout that changed process.c). */
function addonIsStale(): boolean {
  return !existsSync(forkAddon) || statSync(forkAddon).mtimeMs < statSync(forkAddonSource).mtimeMs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const purpose = process.argv[2];
  if (purpose !== 'test' && purpose !== 'demo') {
    console.error('usage: node scripts/setup.ts test|demo');
    process.exit(2);
  }
  setUp(purpose);
}
