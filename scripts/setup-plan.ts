// What `npm test` and `npm run demo` need from the machine beyond node_modules, and the decision made from
// what was found: which Debian packages to install, or what to tell the user to run. Pure, so that every
// case is a unit test (test/scripts/setup.test.ts); scripts/setup.ts looks at the machine and acts.

/** `test`: all that `npm test` runs; `test-files`: chosen test files, with the control plane as it is; `demo`: npm run demo. */
export type Purpose = 'test' | 'test-files' | 'demo';

export interface Requirement {
  /** What is looked for, as it is reported. */
  readonly name: string;
  readonly debianPackage: string;
  /** Who needs it, in a user's words. */
  readonly why: string;
  readonly neededFor: readonly Purpose[];
  /**
   * Of use only to tests run as root (the real node, test/cluster/real-node.ts): installed when
   * this process is root, and otherwise neither installed nor a reason to stop, since those tests
   * are skipped then, saying why.
   */
  readonly rootOnly?: boolean;
}

const realNodeWhy = "the real node's tests (test/cluster/real-node.test.ts), which run as root";

export const REQUIREMENTS: readonly Requirement[] = [
  { name: 'redis-server', debianPackage: 'redis-server', why: 'the tests and the demo start Redis servers of their own', neededFor: ['test', 'test-files', 'demo'] },
  { name: 'cc', debianPackage: 'gcc', why: "compiles fork mode's native addon (worker-image/native/build.ts), which the worker tests run", neededFor: ['test', 'test-files'] },
  // NodeSource's nodejs package ships Node's headers; Debian's own needs libnode-dev.
  { name: 'node_api.h', debianPackage: 'libnode-dev', why: "Node's headers, for that addon", neededFor: ['test', 'test-files'] },
  { name: 'unshare', debianPackage: 'util-linux', why: 'a shutdown test runs a worker in a PID namespace of its own', neededFor: ['test', 'test-files'] },
  { name: 'ps', debianPackage: 'procps', why: "a shutdown test lists a worker's children", neededFor: ['test', 'test-files'] },
  { name: '/usr/bin/chromium', debianPackage: 'chromium', why: 'the dashboard test drives it with playwright-core', neededFor: ['test', 'test-files'] },
  { name: 'promtool', debianPackage: 'prometheus', why: "the chart's alert rules are checked and unit-tested with promtool", neededFor: ['test', 'test-files'] },
  { name: 'zsh', debianPackage: 'zsh', why: "the CLI's completion test runs its zsh script", neededFor: ['test', 'test-files'] },
  { name: 'fish', debianPackage: 'fish', why: "the CLI's completion test runs its fish script", neededFor: ['test', 'test-files'] },
  { name: 'containerd', debianPackage: 'containerd', why: `the container runtime of ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: 'runc', debianPackage: 'runc', why: `containerd's runtime, for ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: '/usr/lib/cni/bridge', debianPackage: 'containernetworking-plugins', why: `the pods' network, for ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: 'ip', debianPackage: 'iproute2', why: `makes the pods' bridge, for ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: 'openssl', debianPackage: 'openssl', why: `makes the kubelet's certificates, for ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: '/bin/busybox', debianPackage: 'busybox-static', why: `the test image of ${realNodeWhy}`, neededFor: ['test', 'test-files'], rootOnly: true },
  { name: 'buildah', debianPackage: 'buildah', why: "builds the images from their Dockerfiles (scripts/images.ts) for the real pods' end-to-end test", neededFor: ['test', 'test-files'], rootOnly: true },
  { name: 'mmdebstrap', debianPackage: 'mmdebstrap', why: "makes the Debian root filesystem of the images' base (scripts/images.ts)", neededFor: ['test', 'test-files'], rootOnly: true },
];

/** Go builds the test control plane, which `test-files` does not. */
export const needsGo = (purpose: Purpose): boolean => purpose !== 'test-files';

export const CONTROL_PLANE_NOTE =
  'test/cluster/build.sh builds the test control plane (etcd, kube-apiserver, controller manager, scheduler, kubectl, kwok, helm) ' +
  'from Go modules into test/cluster/bin: about 20 min the first time on 2 cores, seconds once built';

export interface Machine {
  /** The names of REQUIREMENTS found. */
  readonly found: ReadonlySet<string>;
  /** `go env GOVERSION` ("go1.26.8"), undefined when there is no go. */
  readonly goVersion: string | undefined;
  /** The `go` line of test/cluster/go.mod ("1.26.0"). */
  readonly goWanted: string;
  /** process.arch. */
  readonly arch: string;
  /** How packages can be installed: as root, through `sudo -n`, or not by this process. Read only when something is missing. */
  readonly privilege: 'root' | 'sudo' | 'none';
  readonly hasAptGet: boolean;
}

export interface SetupPlan {
  /** Debian packages to install now (with sudo when `sudo`), then go on. */
  readonly install: readonly string[];
  readonly sudo: boolean;
  /** When set: print it and stop; it names what is missing, why, and the command to run. */
  readonly stop: string | undefined;
}

/** "go1.26.8" or "1.26.0" -> [1, 26, 8]; a version that is not a release ("devel ...") -> undefined. */
function goRelease(version: string): number[] | undefined {
  const m = /^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

function goIsRecent(have: string | undefined, wanted: string): boolean {
  if (have === undefined) return false;
  const h = goRelease(have);
  const w = goRelease(wanted);
  if (h === undefined || w === undefined) return true; // a development build: let build.sh try it
  for (let i = 0; i < 3; i++) {
    if ((h[i] ?? 0) !== (w[i] ?? 0)) return (h[i] ?? 0) > (w[i] ?? 0);
  }
  return true;
}

const command = (purpose: Purpose): string => (purpose === 'demo' ? 'npm run demo' : 'npm test');

/** Decides what to install and whether to stop, from what was found on the machine. */
export function planSetup(purpose: Purpose, machine: Machine): SetupPlan {
  const absent = REQUIREMENTS.filter((r) => r.neededFor.includes(purpose) && !machine.found.has(r.name));
  const missing = absent.filter((r) => r.rootOnly !== true);
  const packages = missing.map((r) => r.debianPackage);
  const goMissing = needsGo(purpose) && !goIsRecent(machine.goVersion, machine.goWanted);
  if (absent.length === 0 && !goMissing) return { install: [], sudo: false, stop: undefined };
  const canInstall = machine.hasAptGet && machine.privilege !== 'none';
  const asRoot = machine.hasAptGet && machine.privilege === 'root' ? absent.filter((r) => r.rootOnly === true).map((r) => r.debianPackage) : [];
  const install = [...(canInstall ? packages : []), ...asRoot];
  const lines: string[] = [];
  const run: string[] = [];
  if (packages.length > 0 && !canInstall) {
    for (const r of missing) lines.push(`  ${r.name} (Debian package ${r.debianPackage}): ${r.why}`);
    run.push(machine.hasAptGet
      ? `sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`
      : `install ${packages.join(', ')} (Debian's names) with this system's package manager`);
  }
  if (goMissing) {
    const goArch = machine.arch === 'x64' ? 'amd64' : machine.arch;
    lines.push(`  Go ${machine.goWanted} or newer (${machine.goVersion === undefined ? 'no go on the PATH or in /usr/local/go/bin' : `found ${machine.goVersion}`}): ${CONTROL_PLANE_NOTE}`);
    run.push(`curl -fsSL https://go.dev/dl/go${machine.goWanted}.linux-${goArch}.tar.gz | ${machine.privilege === 'root' ? '' : 'sudo '}tar -C /usr/local -xz`);
  }
  if (run.length === 0) return { install, sudo: machine.privilege === 'sudo', stop: undefined };
  const stop = [
    `${command(purpose)} needs what this machine does not have:`,
    ...lines,
    `Run, then ${command(purpose)} again:`,
    ...run.map((r) => `  ${r}`),
  ].join('\n');
  return { install, sudo: machine.privilege === 'sudo', stop };
}
