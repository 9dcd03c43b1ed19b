// The atomic transitions, kept as Lua files in queue/lua and run with EVALSHA (falling back to EVAL once).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const luaDir = new URL('../lua/', import.meta.url);
const prelude = readFileSync(new URL('_lib.lua', luaDir), 'utf8');

/** One Lua script: its text (with the shared prelude) and its SHA-1 for EVALSHA. */
export class Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;

  constructor(name: string) {
    this.name = name;
    this.lua = `${prelude}\n${readFileSync(new URL(`${name}.lua`, luaDir), 'utf8')}`;
    this.sha = createHash('sha1').update(this.lua).digest('hex');
  }

  /** Runs the script with ARGV only (keys are derived from the namespace inside, as Resque derives them). */
  async run(redis: Redis, args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, 0, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(this.lua, 0, ...args);
      throw err;
    }
  }
}

/** Every script, loaded once per process. */
export const scripts = {
  reserve: new Script('reserve'),
  finish: new Script('finish'),
  handBack: new Script('hand-back'),
  heartbeat: new Script('heartbeat'),
  requeueDead: new Script('requeue-dead'),
  moveDue: new Script('move-due'),
} as const;
