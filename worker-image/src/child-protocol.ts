// The messages between the master and a spawn-mode child, JSON lines over the child's pipes (see
// spawn-child.ts). The child side stays dependency-free (its start-up is on the job's critical path); the
// master validates what it receives.
import { z } from 'zod';

/** master -> child: run one job. */
export interface RunMessage {
  readonly t: 'run';
  readonly className: string;
  readonly args: readonly unknown[];
}

/** child -> master: modules loaded, ready for a job. */
export const ReadyMessage = z.object({ t: z.literal('ready'), loadMs: z.number() });

/** child -> master: the job ended; `error` is what it threw. */
export const DoneMessage = z.object({
  t: z.literal('done'),
  ok: z.boolean(),
  error: z.object({ name: z.string(), message: z.string(), stack: z.array(z.string()) }).optional(),
});

export const ChildMessage = z.discriminatedUnion('t', [ReadyMessage, DoneMessage]);
export type ChildMessage = z.infer<typeof ChildMessage>;
export type JobError = NonNullable<z.infer<typeof DoneMessage>['error']>;
