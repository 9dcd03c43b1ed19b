// The messages of fork mode, one JSON object per line, validated with zod at every boundary.
//
//   master  --Command-->      zygote   (the zygote's fd 3, a socketpair; read synchronously)
//   zygote  --ZygoteEvent-->  master   (the same socketpair)
//   child   --ChildReport-->  zygote   (a pipe made for that child alone, relayed as a ZygoteEvent)
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { stackLines } from '../jobs.ts';

/** The command channel's descriptor in the zygote (the master's stdio[3]). */
export const CHANNEL_FD = 3;
/** Environment variable carrying the master's pid to the zygote, which dies with it. */
export const MASTER_PID_ENV = 'FORKPOOL_MASTER_PID';

/** What a job threw, as a failure record needs it. */
export const JobErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  /** The stack's frames, one per line, without the message line. */
  stack: z.array(z.string()),
});
export type JobError = z.infer<typeof JobErrorSchema>;

/** What perform did: returned (or resolved), or threw (or rejected). */
export const JobResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: JobErrorSchema }),
]);
export type JobResult = z.infer<typeof JobResultSchema>;

/** Master -> zygote: fork a child that runs `className.perform(...args)`. `id` is the master's. */
export const RunCommandSchema = z.object({
  type: z.literal('run'),
  id: z.string().min(1),
  className: z.string().min(1),
  args: z.array(z.unknown()),
});
export type RunCommand = z.infer<typeof RunCommandSchema>;

export const CommandSchema = z.discriminatedUnion('type', [RunCommandSchema]);
export type Command = z.infer<typeof CommandSchema>;

/** Child -> zygote, written once just before the child exits. */
export const ChildReportSchema = z.object({
  type: z.literal('result'),
  result: JobResultSchema,
  rssBytes: z.number().int().nonnegative(),
});
export type ChildReport = z.infer<typeof ChildReportSchema>;

const LoadErrorSchema = z.object({ className: z.string(), error: JobErrorSchema });

/** Zygote -> master. */
export const ZygoteEventSchema = z.discriminatedUnion('type', [
  // Job modules are loaded and beforeFork has run: commands are taken from now on.
  z.object({ type: z.literal('ready'), jobs: z.array(z.string()), loadErrors: z.array(LoadErrorSchema) }),
  // The zygote cannot serve (hooks module failed, beforeFork threw, addon missing); it exits next.
  z.object({ type: z.literal('fatal'), error: JobErrorSchema }),
  z.object({ type: z.literal('log'), level: z.enum(['info', 'warn', 'error']), msg: z.string() }),
  z.object({ type: z.literal('forked'), id: z.string(), pid: z.number().int().positive() }),
  z.object({ type: z.literal('forkFailed'), id: z.string(), error: z.string() }),
  z.object({ type: z.literal('result'), id: z.string(), result: JobResultSchema, rssBytes: z.number() }),
  // Always after the child's result, if it sent one. Exactly one of code and signal is set.
  z.object({
    type: z.literal('exit'),
    id: z.string(),
    pid: z.number().int().positive(),
    code: z.number().int().nullable(),
    signal: z.string().nullable(),
  }),
]);
export type ZygoteEvent = z.infer<typeof ZygoteEventSchema>;

/** Splits a byte stream into lines; keeps the unfinished tail for the next chunk. */
export class LineSplitter {
  #tail = '';
  readonly #decoder = new StringDecoder('utf8');

  push(chunk: Buffer): string[] {
    const text = this.#tail + this.#decoder.write(chunk);
    const lines = text.split('\n');
    this.#tail = lines.pop() ?? '';
    return lines.filter((line) => line.length > 0);
  }
}

/** Turns anything thrown into a JobError, named as spawn mode names it (../child.ts). */
export function toJobError(thrown: unknown): JobError {
  const e = thrown instanceof Error ? thrown : new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
  const name = e.name !== 'Error' ? e.name : ((e.constructor as { name?: string } | undefined)?.name ?? 'Error');
  return { name, message: e.message, stack: stackLines(e).slice(0, 200) };
}
