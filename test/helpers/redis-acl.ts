// The ACL users docs/redis.md documents for a worker and the operator, read from the page, so that tests run
// under exactly what the docs tell users to set.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { RedisServer } from './redis.ts';

const DOC = new URL('../../docs/redis.md', import.meta.url);

/** The documented `ACL SETUSER` line of `user` (forkpool-worker, forkpool-operator), as arguments. */
export function documentedAcl(user: 'forkpool-worker' | 'forkpool-operator'): string[] {
  const line = readFileSync(DOC, 'utf8').split('\n').find((l) => l.startsWith(`ACL SETUSER ${user} `));
  if (line === undefined) throw new Error(`docs/redis.md has no "ACL SETUSER ${user}" line`);
  return line.trim().split(/\s+/);
}

/** Creates the documented user on a server, with this password (for the namespace `resque`). */
export async function createDocumentedUser(admin: Redis, user: 'forkpool-worker' | 'forkpool-operator', password: string): Promise<void> {
  const [, ...args] = documentedAcl(user).map((a) => (/^>[A-Z_]+_PASSWORD$/.test(a) ? `>${password}` : a));
  await admin.call('ACL', ...args);
}

/** What Redis denied so far (`ACL LOG`), one line each: `<reason> <object> by <user>`. */
export async function aclDenials(admin: Redis): Promise<string[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((e) => {
    const f = new Map<string, unknown>();
    for (let i = 0; i + 1 < e.length; i += 2) f.set(String(e[i]), e[i + 1]);
    return `${String(f.get('reason'))} ${String(f.get('object'))} by ${String(f.get('username'))}`;
  });
}

/**
 * Makes a server's users explicit: an `admin` user that may do everything, and the default user (no
 * password) turned off, so that a client that does not log in as a user can do nothing. Returns a
 * connection as `admin`.
 */
export async function aclOnlyServer(server: RedisServer): Promise<Redis> {
  const setup = server.connect();
  await setup.call('ACL', 'SETUSER', 'admin', 'on', '>admin-secret', '~*', '&*', '+@all');
  await setup.call('ACL', 'SETUSER', 'default', 'off');
  setup.disconnect();
  const admin = new Redis({ ...server.clientOptions, username: 'admin', password: 'admin-secret' });
  admin.on('error', () => undefined);
  await admin.ping();
  return admin;
}
