// Builds process.node, the native addon of fork mode (and of spawn mode's spawn), with the system C
// compiler against Node's headers found on this machine: no node-gyp, no download. When it cannot build,
// it says why and exits 0, so that installing never fails: the worker then runs in spawn mode and says so
// at start.
//
//   node worker-image/native/build.ts        (run by npm ci / npm install through "prepare")
//
// Headers: $NODE_API_HEADERS, else <node prefix>/include/node, /usr/include/node,
// /usr/local/include/node (Debian: the nodejs or libnode-dev package). Compiler: $CC, else cc.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const here = import.meta.dirname;
const output = join(here, 'build', 'process.node');

function headerDirs(): string[] {
  const fromEnv = process.env.NODE_API_HEADERS;
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : candidates;
}

function skip(reason: string): never {
  rmSync(output, { force: true });
  process.stdout.write(`process.node not built: ${reason}\nFork mode (ISOLATION=fork) is unavailable: the worker will use spawn mode, starting its children with Node's spawn (not posix_spawn).\n`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`fork mode needs Linux, this is ${process.platform}`);
const dirs = headerDirs();
const include = dirs.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
if (include === undefined) skip(`no Node headers (node_api.h and uv.h) in ${dirs.join(', ')}; on Debian: apt-get install libnode-dev`);
const cc = process.env.CC ?? 'cc';
mkdirSync(dirname(output), { recursive: true });
// Unresolved napi_* and uv_* symbols are left for the node binary that loads the addon to provide.
const args = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-I', include, '-o', output, join(here, 'process.c')];
try {
  execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  skip(`${cc} ${args.join(' ')} failed: ${err instanceof Error ? err.message : String(err)}`);
}
try {
  createRequire(import.meta.url)(output);
} catch (err) {
  skip(`built ${output} but Node ${process.version} cannot load it: ${err instanceof Error ? err.message : String(err)}`);
}
process.stdout.write(`process.node built: ${output} (headers ${include}, ${cc})\n`);
