#!/usr/bin/env node
// forkpool: the command line for a Resque Redis (enqueue, stats, failed, schedule), local mode (up) and the dashboard.
import { CommanderError } from 'commander';
import { CliError, EXIT } from './errors.ts';
import type { Io } from './io.ts';
import { commanderExitCode, createProgram, type ProgramRun } from './program.ts';

let statusShown = false;
const io: Io = {
  out: (line) => console.log(line),
  err: (line) => {
    if (statusShown) process.stderr.write('\r\x1b[K');
    statusShown = false;
    console.error(line);
  },
  status: (line) => {
    process.stderr.write(`\r\x1b[K${line}`);
    statusShown = line !== '';
  },
  stderrIsTTY: process.stderr.isTTY,
  env: process.env,
};

async function main(argv: string[]): Promise<number> {
  const run: ProgramRun = { command: undefined, exitCode: EXIT.ok };
  const program = createProgram(io, run);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return run.exitCode;
  } catch (err) {
    // Commander has written its own message (unknown command or option, missing argument, help).
    if (err instanceof CommanderError) return commanderExitCode(err);
    const name = run.command ?? 'forkpool';
    if (err instanceof CliError) {
      io.err(`${name}: ${err.message}`);
      if (err.kind === 'usage') io.err(`(${name} --help for usage)`);
      return err.exitCode;
    }
    io.err(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.runtime;
  }
}

process.exitCode = await main(process.argv.slice(2));
