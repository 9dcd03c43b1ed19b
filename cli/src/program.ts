// The forkpool command tree: every command, argument and option with its help, declared once with
// commander. Help, `help <command>`, `--version`, "did you mean" and shell completion all read it, so
// none of them can drift from what the commands take. zod checks the values (cli/src/options.ts).
import { Argument, Command, CommanderError, Option } from 'commander';
import type { z } from 'zod';
import { dashboardCommand, DASHBOARD_HELP, dashboardSchema } from './commands/dashboard.ts';
import { enqueueCommand, ENQUEUE_HELP, enqueueSchema } from './commands/enqueue.ts';
import { FAILED_HELP, failedListCommand, failedListSchema, failedRemoveCommand, failedRemoveSchema, failedRetryCommand, failedRetrySchema } from './commands/failed.ts';
import { scheduleCommand, SCHEDULE_HELP, scheduleSchema } from './commands/schedule.ts';
import { statsCommand, statsSchema } from './commands/stats.ts';
import { upCommand, UP_HELP, upSchema } from './commands/up.ts';
import { completionScript, SHELLS, type Shell } from './completion.ts';
import { EXIT } from './errors.ts';
import type { Io } from './io.ts';
import { parseInput } from './options.ts';
import { packageVersion } from './version.ts';

const EXIT_CODES = `
Exit codes:
  0  ok
  1  runtime failure (e.g. some failures could not be retried)
  2  usage error: bad flag, argument or JobPool file; nothing was done
  3  Redis unreachable
  4  not found (e.g. no failure at that index)`;

/** What a command's action hands back: its exit code. */
export interface ProgramRun {
  /** `forkpool failed retry`, for messages; set when an action starts */
  command: string | undefined;
  exitCode: number;
}

/** `forkpool failed retry` for the `retry` command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * The forkpool program. Actions run the command with `io` and record its exit code in `run`; errors
 * they throw (CliError) reach the caller of parseAsync. Commander's own errors (unknown command or
 * option, missing argument) are written to `io.err` with the command's name and thrown as
 * CommanderError (exitOverride).
 */
export function createProgram(io: Io, run: ProgramRun): Command {
  const program = new Command('forkpool')
    .description('The command line for a Resque Redis: enqueue, stats, failed and schedule; a JobPool run on this machine (up); a dashboard like resque-web.')
    .version(packageVersion(), '-V, --version', 'the forkpool version')
    .helpOption('-h, --help', 'this help')
    .helpCommand('help [command]', 'the help of a command')
    .option('--redis <url>', 'Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379; with a JobPool file, its spec.redis)')
    .option('--namespace <ns>', 'Resque key prefix (default: $RESQUE_NAMESPACE, else resque)')
    .option('--tls-ca-file <file>', "CA bundle (PEM) the server's certificate must chain to, with a rediss:// URL (default: $REDIS_TLS_CA_FILE, else the system's CAs)")
    .option('--tls-cert-file <file>', 'client certificate (PEM) for mutual TLS (default: $REDIS_TLS_CERT_FILE)')
    .option('--tls-key-file <file>', "the client certificate's key (PEM) (default: $REDIS_TLS_KEY_FILE)")
    .option('--tls-servername <name>', "the name the server's certificate must carry, and SNI (default: $REDIS_TLS_SERVERNAME, else the URL's host)")
    .option('--username <user>', 'ACL user (default: $REDIS_USERNAME, else the URL\'s)')
    .option('--password-file <file>', 'a file holding the password (default: $REDIS_PASSWORD, else the URL\'s)')
    .option('--sentinels <host:port,...>', 'Redis Sentinel: the sentinels to ask for the primary (default: $REDIS_SENTINELS)')
    .option('--sentinel-master <name>', 'the master name the sentinels know (default: $REDIS_SENTINEL_MASTER)')
    .option('--sentinel-password-file <file>', "a file holding the sentinels' own password (default: $REDIS_SENTINEL_PASSWORD)")
    .option('--cluster-nodes <host:port,...>', 'Redis Cluster nodes; the namespace then needs a hash tag, e.g. {resque} (default: $REDIS_CLUSTER_NODES)')
    .option('--json', 'machine-readable output on stdout (progress and notes stay on stderr)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_CODES);

  /** Runs `impl` with the program's options, the command's own and its operands, checked by `schema`. */
  const action = <S extends z.ZodType>(schema: S, impl: (input: z.output<S>, io: Io) => Promise<number>, local: (cmd: Command) => Record<string, unknown> = (cmd) => cmd.opts()) =>
    async function (this: Command): Promise<void> {
      run.command = commandPath(this);
      const input = parseInput(schema, { ...program.opts(), ...local(this), positionals: this.args });
      run.exitCode = await impl(input, io);
    };

  program
    .command('up')
    .description("run a JobPool's workers on this machine, autoscaled, with its cron schedules")
    .argument('<jobpool.yaml>', 'the JobPool file, as you would kubectl apply it')
    .option('--jobs <dir>', 'the jobs folder (JOBS_DIR)', './jobs')
    .option('--log-file <file>', "where the workers' logs go (default: $TMPDIR/forkpool-up-<pool>.log)")
    .option('--no-redis', 'never start a redis-server for the session: an unreachable Redis is an error')
    .addHelpText('after', UP_HELP)
    .action(action(upSchema, upCommand, (cmd) => {
      const { jobs, logFile, redis } = cmd.opts<{ jobs: string; logFile?: string; redis: boolean }>();
      return { jobs, logFile, startRedis: redis };
    }));

  program
    .command('enqueue')
    .description('enqueue a job (args are JSON values)')
    .argument('<queue>', 'the queue')
    .argument('<Class>', 'the job class, e.g. WelcomeEmail or Reports::Daily')
    .argument('[args...]', 'the arguments, each one JSON value')
    .addOption(new Option('--in <seconds>', "schedule it that many seconds from now (resque-scheduler's delayed set)").conflicts('at'))
    .option('--at <time>', 'schedule it at an ISO 8601 time with a zone, e.g. 2026-12-01T09:00:00Z')
    .addHelpText('after', ENQUEUE_HELP)
    .action(action(enqueueSchema, enqueueCommand));

  program
    .command('stats')
    .description('queues, workers and counters')
    .action(action(statsSchema, statsCommand));

  const failed = program
    .command('failed')
    .description('the failed list: list, retry, remove')
    .addHelpText('after', FAILED_HELP);
  failed
    .command('list')
    .description('list failures with exception and error, 0 first')
    .option('--start <n>', 'first index to list', '0')
    .option('--count <n>', 'how many to list', '50')
    .option('--backtrace', 'list the backtraces too')
    .action(action(failedListSchema, failedListCommand));
  failed
    .command('retry')
    .description("put a failure's job back on its queue, or every failure's with --all")
    .argument('[index]', 'the failure to retry (see forkpool failed list)')
    .option('--all', 'retry every failure, with progress on stderr')
    .action(action(failedRetrySchema, failedRetryCommand));
  failed
    .command('remove')
    .description('delete one failure')
    .argument('<index>', 'the failure to remove (see forkpool failed list)')
    .action(action(failedRemoveSchema, failedRemoveCommand));

  program
    .command('schedule')
    .description('delayed jobs and cron schedules')
    .argument('[jobpool.yaml]', 'a JobPool file, to show its cron schedules')
    .option('--count <n>', 'how many delayed jobs to list', '50')
    .addHelpText('after', SCHEDULE_HELP)
    .action(action(scheduleSchema, scheduleCommand));

  program
    .command('dashboard')
    .description('a web page like resque-web')
    .argument('[jobpool.yaml]', 'a JobPool file, to show its cron schedules')
    .option('--port <n>', 'port to listen on (0 for any free port)', '5678')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--token <token>', 'enables write actions (default: $FORKPOOL_DASHBOARD_TOKEN; none: read-only)')
    .option('--token-reads', 'the token is needed to see anything too (default: $FORKPOOL_DASHBOARD_TOKEN_READS=true)')
    .option('--allowed-host <names>', 'other names the Host header may carry, comma-separated (.example.com: every name under it)')
    .option('--sample <seconds>', 'how often queue depths are sampled for the sparklines', '5')
    .option('--prune-after <seconds>', 'a worker whose heartbeat is older is dead (the workers\' HEARTBEAT_TIMEOUT_SECONDS)', '30')
    .addHelpText('after', DASHBOARD_HELP)
    .action(action(dashboardSchema, dashboardCommand));

  program
    .command('completion')
    .description('a shell completion script: bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText('after', `
  bash:  source <(forkpool completion bash)         (e.g. in ~/.bashrc)
  zsh:   source <(forkpool completion zsh)          (e.g. in ~/.zshrc, after compinit)
  fish:  forkpool completion fish > ~/.config/fish/completions/forkpool.fish`)
    .action(function (this: Command, shell: Shell) {
      run.command = commandPath(this);
      io.out(completionScript(program, shell));
      run.exitCode = EXIT.ok;
    });

  configureErrors(program, io);
  return program;
}

/** Every command writes commander's errors with its own name and a pointer to its help, and throws them. */
function configureErrors(cmd: Command, io: Io): void {
  const path = commandPath(cmd);
  cmd
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
      outputError: (text, write) => write(`${path}: ${text.replace(/^error: /, '').replace(/\n$/, '')}\n(${path} --help for usage)\n`),
    })
    .exitOverride();
  for (const sub of cmd.commands) configureErrors(sub, io);
}

/**
 * The exit code of an error commander threw: 0 after help asked for (`--help`, `help enqueue`) or the
 * version; 2 (usage) otherwise, the help it shows for a missing command included.
 */
export function commanderExitCode(err: CommanderError): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
  if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return EXIT.usage;
}
