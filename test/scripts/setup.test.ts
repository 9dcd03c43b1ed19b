import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planSetup, REQUIREMENTS, type Machine, type Purpose, type SetupPlan } from '../../scripts/setup-plan.ts';

const everything = REQUIREMENTS.map((r) => r.name);
const machine = (changes: Partial<Machine> & { without?: string[] } = {}): Machine => {
  const { without = [], ...rest } = changes;
  return {
    found: new Set(everything.filter((n) => !without.includes(n))),
    goVersion: 'go1.26.8',
    goWanted: '1.26.0',
    arch: 'x64',
    privilege: 'root',
    hasAptGet: true,
    ...rest,
  };
};

const cases: Record<string, { purpose: Purpose; machine: Machine; install: string[]; sudo?: boolean; stop?: RegExp[] }> = {
  'everything there: nothing to do': { purpose: 'test', machine: machine(), install: [] },
  'as root, the missing packages are installed': {
    purpose: 'test',
    machine: machine({ without: ['redis-server', '/usr/bin/chromium', 'ps'] }),
    install: ['redis-server', 'procps', 'chromium'],
  },
  'through sudo when sudo -n works': { purpose: 'test', machine: machine({ privilege: 'sudo', without: ['cc'] }), install: ['gcc'], sudo: true },
  "Node's headers come from libnode-dev": { purpose: 'test', machine: machine({ without: ['node_api.h'] }), install: ['libnode-dev'] },
  'the demo needs redis-server only, of the packages': {
    purpose: 'demo',
    machine: machine({ without: ['redis-server', '/usr/bin/chromium', 'cc', 'unshare'] }),
    install: ['redis-server'],
  },
  'without root or sudo: stop with the one command': {
    purpose: 'test',
    machine: machine({ privilege: 'none', without: ['redis-server', '/usr/bin/chromium'] }),
    install: [],
    stop: [
      /^npm test needs what this machine does not have:\n/,
      /\n {2}redis-server \(Debian package redis-server\): the tests and the demo start Redis servers/,
      /\n {2}\/usr\/bin\/chromium \(Debian package chromium\): the dashboard test/,
      /\nRun, then npm test again:\n {2}sudo apt-get update && sudo apt-get install -y redis-server chromium$/,
    ],
  },
  'not Debian: the packages by their Debian names': {
    purpose: 'demo',
    machine: machine({ hasAptGet: false, without: ['redis-server'] }),
    install: [],
    stop: [/^npm run demo needs/, /\n {2}install redis-server \(Debian's names\) with this system's package manager$/],
  },
  'no Go: install what can be, then stop saying what needs Go and how long its build takes': {
    purpose: 'test',
    machine: machine({ goVersion: undefined, without: ['redis-server'] }),
    install: ['redis-server'],
    stop: [
      /\n {2}Go 1\.26\.0 or newer \(no go on the PATH or in \/usr\/local\/go\/bin\): test\/cluster\/build\.sh builds the test control plane .* about 20 min the first time/,
      /\n {2}curl -fsSL https:\/\/go\.dev\/dl\/go1\.26\.0\.linux-amd64\.tar\.gz \| tar -C \/usr\/local -xz$/,
    ],
  },
  'an old Go is named': {
    purpose: 'demo',
    machine: machine({ goVersion: 'go1.19.8', arch: 'arm64' }),
    install: [],
    stop: [/\(found go1\.19\.8\)/, /go1\.26\.0\.linux-arm64\.tar\.gz \| tar /],
  },
  "as root, the real node's packages are installed too": {
    purpose: 'test',
    machine: machine({ without: ['redis-server', 'containerd', '/usr/lib/cni/bridge'] }),
    install: ['redis-server', 'containerd', 'containernetworking-plugins'],
  },
  "through sudo, the real node's packages are not installed: its tests need root and are skipped": {
    purpose: 'test',
    machine: machine({ privilege: 'sudo', without: ['cc', 'runc', '/bin/busybox'] }),
    install: ['gcc'],
    sudo: true,
  },
  "without root or sudo, the real node's packages missing do not stop the tests": {
    purpose: 'test',
    machine: machine({ privilege: 'none', without: ['containerd', 'openssl', 'ip'] }),
    install: [],
  },
  'a newer Go will do': { purpose: 'test', machine: machine({ goVersion: 'go1.27.1' }), install: [] },
  'a development build of Go is left to build.sh to try': { purpose: 'test', machine: machine({ goVersion: 'devel go1.27-abc123' }), install: [] },
  'chosen test files do not build the control plane: no Go needed': { purpose: 'test-files', machine: machine({ goVersion: undefined }), install: [] },
  'both a package and Go missing without root: two commands': {
    purpose: 'test',
    machine: machine({ privilege: 'none', goVersion: 'go1.25.3', without: ['unshare'] }),
    install: [],
    stop: [/\n {2}sudo apt-get update && sudo apt-get install -y util-linux\n {2}curl .* \| sudo tar -C \/usr\/local -xz$/],
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(name, () => {
    const plan: SetupPlan = planSetup(c.purpose, c.machine);
    assert.deepEqual(plan.install, c.install);
    if (c.sudo !== undefined) assert.equal(plan.sudo, c.sudo);
    if (c.stop === undefined) assert.equal(plan.stop, undefined);
    else for (const re of c.stop) assert.match(plan.stop ?? '', re);
  });
}

test('sudo is not tried when nothing is missing', () => {
  const m = machine();
  const untouchable: Machine = { ...m, get privilege(): Machine['privilege'] { throw new Error('privilege read'); } };
  assert.deepEqual(planSetup('test', untouchable), { install: [], sudo: false, stop: undefined });
});
