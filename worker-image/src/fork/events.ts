// What the master reads from the zygote (see zygote-protocol.ts), validated with zod in the master. The zygote
// does not load this file: zod would add to the memory every fork copies.
import { z } from 'zod';

const JobErrorSchema = z.object({ name: z.string(), message: z.string(), stack: z.array(z.string()) });
const JobResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: JobErrorSchema }),
]);

/** Zygote -> master. */
export const ZygoteEventSchema = z.discriminatedUnion('type', [
  // Job modules are loaded and beforeFork has run: commands are taken from now on.
  z.object({ type: z.literal('ready'), jobs: z.array(z.string()), loadErrors: z.array(z.object({ className: z.string(), error: JobErrorSchema })) }),
  // The zygote cannot serve (beforeFork threw, addon missing); it exits next.
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
