#!/usr/bin/env node
// forkpool: the command line for a Resque Redis (enqueue, stats, failed, schedule), local mode (up) and the dashboard.
import { dashboardCommand } from './commands/dashboard.ts';
import { enqueueCommand } from './commands/enqueue.ts';
import { failedCommand } from './commands/failed.ts';
import { scheduleCommand } from './commands/schedule.ts';
import { statsCommand } from './commands/stats.ts';
import { upCommand } from './commands/up.ts';
import { CliError, EXIT } from './errors.ts';
import type { Io } from './io.ts';

const HELP = `Usage: forkpool <command> [options]

Commands:
  up <jobpool.yaml>                  run a JobPool's workers on this machine, autoscaled, with its cron schedules
  enqueue <queue> <Class> [args...]  enqueue a job (args are JSON values)
  stats                              queues, workers and counters
  failed list|retry|remove           the failed list
  schedule [jobpool.yaml]            delayed jobs and cron schedules
  dashboard                          a web page like resque-web

Every command takes --redis URL (or $REDIS_URL), --namespace NS, --json and --help.

Exit codes:
  0  ok
  1  runtime failure (e.g. some failures could not be retried)
  2  usage error: bad flag, argument or JobPool file; nothing was done
  3  Redis unreachable
  4  not found (e.g. no failure at that index)`;

type Command = (argv: readonly string[], io: Io) => Promise<number>;

const commands: Record<string, Command> = {
  up: upCommand,
  enqueue: enqueueCommand,
  stats: statsCommand,
  failed: failedCommand,
  schedule: scheduleCommand,
  dashboard: dashboardCommand,
};

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
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(HELP);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return EXIT.ok;
  }
  const command = commands[name];
  if (!command) {
    console.error(`forkpool: unknown command ${JSON.stringify(name)}\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`forkpool ${name}: ${err.message}`);
      if (err.kind === 'usage') io.err(`(forkpool ${name} --help for usage)`);
      return err.exitCode;
    }
    io.err(`forkpool ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.runtime;
  }
}

process.exitCode = await main(process.argv.slice(2));
