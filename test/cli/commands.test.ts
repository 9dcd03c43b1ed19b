// forkpool enqueue, stats, failed and schedule, run as processes against a real Redis holding Resque's own data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loadResqueFixture, runCli } from './helpers.ts';

let server: RedisServer;
let redis: Redis;
let env: Record<string, string>;

before(async () => {
  server = await startRedis();
  redis = server.connect();
  env = { REDIS_URL: server.url };
});
after(async () => server.stop());
beforeEach(async () => { await redis.flushall(); });

describe('forkpool (usage and exit codes)', () => {
  it('prints the usage with the exit codes and exits 2 without a command, 0 with --help', async () => {
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: forkpool \[options\] \[command\]/);
    assert.match(none.stderr, /^ {2}enqueue \[options\] <queue> <Class> \[args\.\.\.\] +enqueue a job/m);
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /3 {2}Redis unreachable/);
  });

  it('has --help and help <command> for every command, on stdout with exit 0, with the options it takes', async () => {
    const commands = ['enqueue', 'stats', 'failed', 'failed list', 'failed retry', 'failed remove', 'schedule', 'up', 'dashboard', 'completion'];
    for (const cmd of commands) {
      const [flag, word] = await Promise.all([runCli([...cmd.split(' '), '--help']), runCli(['help', ...cmd.split(' ')])]);
      assert.equal(flag.code, 0, `${cmd} --help: ${flag.stderr}`);
      assert.match(flag.stdout, new RegExp(`^Usage: forkpool ${cmd}`), cmd);
      assert.match(flag.stdout, /^Global Options:\n(.*\n)* {2}--redis <url> /m, `${cmd}: the global options too`);
      if (!cmd.includes(' ')) assert.equal(word.stdout, flag.stdout, `help ${cmd}`);
      assert.equal(word.code, 0, `help ${cmd}: ${word.stderr}`);
    }
    assert.match((await runCli(['up', '--help'])).stdout, /^ {2}--no-redis +never start a redis-server/m);
    assert.match((await runCli(['help', 'failed'])).stdout, /^ {2}retry \[options\] \[index\] /m);
  });

  it('prints the package version with --version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${pkg.version}\n`);
    }
  });

  it('suggests the command meant when one is misspelt', async () => {
    const r = await runCli(['enqeue', 'q', 'Job']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^forkpool: unknown command 'enqeue'\n\(Did you mean enqueue\?\)/);
    const sub = await runCli(['failed', 'lst']);
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown command 'lst'\n\(Did you mean list\?\)/);
    const flag = await runCli(['failed', 'list', '--backtrack']);
    assert.match(flag.stderr, /unknown option '--backtrack'\n\(Did you mean --backtrace\?\)/);
  });

  it('takes the global options before or after the command', async () => {
    for (const args of [
      ['--redis', server.url, '--namespace', 'app', '--json', 'enqueue', 'q', 'Job'],
      ['enqueue', 'q', 'Job', '--redis', server.url, '--namespace', 'app', '--json'],
      ['enqueue', '--json', 'q', '--namespace', 'app', 'Job', '--redis', server.url],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as { queue: string }).queue, 'q', args.join(' '));
    }
    assert.equal(await redis.llen('app:queue:q'), 3);
  });

  it('names the bad flag or argument and exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /^forkpool: unknown command 'frobnicate'\n\(forkpool --help for usage\)$/],
      [['stats', '--bogus'], /^forkpool stats: unknown option '--bogus'/],
      [['stats', 'extra'], /^forkpool stats: too many arguments for 'stats'/],
      [['enqueue', 'mailers'], /^forkpool enqueue: missing required argument 'Class'\n\(forkpool enqueue --help for usage\)/],
      [['enqueue', 'mailers', 'Hello', 'world'], /argument 1 is not a JSON value: world .*'"world"'/],
      [['enqueue', 'mailers', 'Hello', '--in', 'soon'], /--in must be a number of seconds/],
      [['enqueue', 'mailers', 'Hello', '--in', '5', '--at', '2030-01-01T00:00:00Z'], /option '--in <seconds>' cannot be used with option '--at <time>'/],
      [['failed', 'retry', '-1'], /^forkpool failed retry: index must be a whole number >= 0, got "-1"/],
      [['failed', 'retry', 'x'], /index must be a whole number >= 0, got "x"/],
      [['failed', 'retry'], /failed retry needs the index of a failure .* or --all/],
      [['failed', 'remove'], /^forkpool failed remove: missing required argument 'index'/],
      [['failed', 'list', '--count', '0'], /--count must be a whole number >= 1, got "0"/],
      [['stats', '--redis', 'http://x'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
      [['completion', 'ksh'], /Allowed choices are bash, zsh, fish/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, env)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trimEnd(), message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
    }
    assert.deepEqual(await redis.keys('*'), [], 'a usage error writes nothing');
  });

  it('exits 3 with the address when Redis is unreachable', async () => {
    const r = await runCli(['stats', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
  });

  it('hides the user name and password of a Redis URL in messages', async () => {
    const r = await runCli(['stats', '--redis', 'redis://user:s3cret@127.0.0.1:1/0']);
    assert.equal(r.code, 3);
    assert.doesNotMatch(r.stderr, /s3cret/);
    assert.match(r.stderr, /redis:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1\/0/);
  });
});

describe('forkpool completion', () => {
  type Shell = 'bash' | 'zsh' | 'fish';
  const scripts = new Map<Shell, string>();
  /** `forkpool completion <shell>` written to a file, once per shell. */
  const scriptFile = async (shell: Shell): Promise<string> => {
    const known = scripts.get(shell);
    if (known !== undefined) return known;
    const script = await runCli(['completion', shell]);
    assert.equal(script.code, 0, script.stderr);
    const file = join(mkdtempSync(join(tmpdir(), 'forkpool-script-')), `forkpool.${shell}`);
    writeFileSync(file, script.stdout);
    scripts.set(shell, file);
    return file;
  };
  /** What each shell offers for a command line (cursor at its end), run in a folder holding `jobs/` and `pool.yaml`. */
  const offered = async (shell: Shell, line: string): Promise<string[]> => {
    const dir = mkdtempSync(join(tmpdir(), 'forkpool-completion-'));
    mkdirSync(join(dir, 'jobs'));
    writeFileSync(join(dir, 'pool.yaml'), '');
    const file = await scriptFile(shell);
    const words = line.split(' ');
    const run = (cmd: string, args: string[]): Promise<string> => new Promise((resolve, reject) => {
      execFile(cmd, args, { cwd: dir }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr}`)) : resolve(stdout)));
    });
    const quoted = words.map((w) => `'${w}'`).join(' ');
    let out: string;
    if (shell === 'bash') {
      out = await run('bash', ['-c', `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _forkpool; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    } else if (shell === 'zsh') {
      // Outside an interactive completion, compadd (which offers the words that start with $PREFIX) and _files are
      // stood in for by functions that print what they would offer.
      out = await run('zsh', ['-f', '-c', `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; local w; for w in "$@"; do [[ $w == "$PREFIX"* ]] && print -- $w; done; return 0; }; _files() { print -- "_files $*"; }; source '${file}'; words=(${quoted}); CURRENT=${words.length}; PREFIX=\${words[CURRENT]}; _forkpool`]);
    } else {
      out = await run('fish', ['--no-config', '-c', `source '${file}'; complete -C ${JSON.stringify(line)}`]);
    }
    return out.split('\n').map((l) => l.split('\t')[0]?.trim() ?? '').filter((l) => l !== '').sort();
  };
  const commands = ['completion', 'dashboard', 'enqueue', 'failed', 'help', 'schedule', 'stats', 'up'];
  const cases: [string, string[] | Record<Shell, string[]>][] = [
    ['forkpool ', commands],
    ['forkpool fa', ['failed']],
    ['forkpool failed re', ['remove', 'retry']],
    ['forkpool enqueue --', ['--at', '--cluster-nodes', '--help', '--in', '--json', '--namespace', '--password-file', '--redis', '--sentinel-master',
      '--sentinel-password-file', '--sentinels', '--tls-ca-file', '--tls-cert-file', '--tls-key-file', '--tls-servername', '--username']],
    ['forkpool stats --tls-c', ['--tls-ca-file', '--tls-cert-file']],
    ['forkpool failed list --back', ['--backtrace']],
    ['forkpool completion ', ['bash', 'fish', 'zsh']],
    ['forkpool help en', ['enqueue']],
    ['forkpool --json --redis redis://x st', ['stats']],
    ['forkpool up --no', ['--no-redis']],
    ['forkpool up --jobs ', { bash: ['jobs'], zsh: ['_files -/'], fish: ['jobs/'] }],
    ['forkpool schedule ', { bash: ['jobs', 'pool.yaml'], zsh: ['_files'], fish: ['jobs/', 'pool.yaml'] }],
    ['forkpool enqueue --at ', []],
  ];

  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    it(`completes commands, subcommands, options and files in ${shell}, from the commands themselves`, async () => {
      for (const [line, expected] of cases) {
        assert.deepEqual(await offered(shell, line), Array.isArray(expected) ? expected : expected[shell], `${shell}: ${JSON.stringify(line)}`);
      }
    });
  }
});

describe('forkpool enqueue', () => {
  it('writes the payload Resque.enqueue writes', async () => {
    const r = await runCli(['enqueue', 'mailers', 'WelcomeEmail', '42', '"hello"', '{"vip":true}'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'enqueued WelcomeEmail on mailers (1 waiting)\n');
    assert.deepEqual(await redis.lrange('resque:queue:mailers', 0, -1), ['{"class":"WelcomeEmail","args":[42,"hello",{"vip":true}]}']);
    assert.deepEqual(await redis.smembers('resque:queues'), ['mailers']);
  });

  it('uses --namespace and --redis over the environment, and prints JSON with --json', async () => {
    const r = await runCli(['enqueue', 'q', 'Job', '--json', '--namespace', 'app', '--redis', server.url], { REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { queue: 'q', class: 'Job', args: [], depth: 1 });
    assert.equal(await redis.llen('app:queue:q'), 1);
  });

  it('schedules with --in into resque-scheduler\'s delayed set', async () => {
    const r = await runCli(['enqueue', 'q', 'Later', '1', '--in', '3600', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const at = Date.parse((JSON.parse(r.stdout) as { at: string }).at) / 1000;
    assert.ok(Math.abs(at - (Date.now() / 1000 + 3600)) < 10);
    assert.deepEqual(await redis.zrange('resque:delayed_queue_schedule', 0, -1), [String(at)]);
    assert.deepEqual(await redis.lrange(`resque:delayed:${at}`, 0, -1), ['{"class":"Later","args":[1],"queue":"q"}']);
  });
});

describe('forkpool enqueue: times and numbers', () => {
  it('keeps every digit of an integer beyond 2^53, and refuses a number no JSON reader can hold', async () => {
    const r = await runCli(['enqueue', 'q', 'Big', '12345678901234567890', '{"id":-9007199254740993,"ratio":0.5}', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await redis.lrange('resque:queue:q', 0, -1), ['{"class":"Big","args":[12345678901234567890,{"id":-9007199254740993,"ratio":0.5}]}']);
    assert.match(r.stdout, /"args":\[12345678901234567890,\{"id":-9007199254740993,"ratio":0\.5\}\]/);
    const huge = await runCli(['enqueue', 'q', 'Big', '1e400'], env);
    assert.equal(huge.code, 2);
    assert.match(huge.stderr, /argument 1: 1e400 is beyond the range of a number; pass it as a string: '"1e400"'/);
    const index = await runCli(['failed', 'retry', '99999999999999999999'], env);
    assert.equal(index.code, 2);
    assert.match(index.stderr, /index 99999999999999999999 is too large: at most 9007199254740991/);
    assert.equal(await redis.llen('resque:queue:q'), 1, 'a refused command writes nothing');
  });

  it('takes --at as ISO 8601 with a zone only, and warns for a time in the past', async () => {
    const refused: [string, RegExp][] = [
      ['2026-12-01', /--at must be an ISO 8601 time with a zone.*got "2026-12-01": add the zone/],
      ['2026-12-01T09:00:00', /add the zone \(Z for UTC, or an offset such as \+01:00\)/],
      ['12/01/2026', /--at must be an ISO 8601 time with a zone/],
      ['2026-02-30T09:00:00Z', /--at "2026-02-30T09:00:00Z" is not a time that exists/],
    ];
    for (const [at, message] of refused) {
      const r = await runCli(['enqueue', 'q', 'Later', '--at', at], env);
      assert.equal(r.code, 2, at);
      assert.match(r.stderr, message, at);
    }
    assert.deepEqual(await redis.keys('*'), [], 'nothing scheduled');
    const offset = await runCli(['enqueue', 'q', 'Later', '--at', '2099-12-01T10:00:00+01:00', '--json'], env);
    assert.equal(offset.code, 0, offset.stderr);
    assert.equal((JSON.parse(offset.stdout) as { at: string }).at, '2099-12-01T09:00:00.000Z');
    assert.equal(offset.stderr, '');
    const past = await runCli(['enqueue', 'q', 'Late', '--at', '2020-01-01T00:00:00Z'], env);
    assert.equal(past.code, 0, past.stderr);
    assert.match(past.stderr, /warning: --at 2020-01-01T00:00:00Z is in the past: the job is due at once/);
    assert.deepEqual(await redis.zrange('resque:delayed_queue_schedule', 0, -1), ['1577836800', '4099798800']);
  });
});

describe('forkpool: the database of a Redis URL', () => {
  it('uses the database the URL names, and refuses one the server does not have, or a path that is no number, with exit 2', async () => {
    const three = await runCli(['enqueue', 'q', 'Job', '--redis', `${server.url}/3`], {});
    assert.equal(three.code, 0, three.stderr);
    const db3 = server.connect();
    await db3.select(3);
    assert.equal(await db3.llen('resque:queue:q'), 1);
    await db3.flushdb();
    db3.disconnect();
    for (const [path, message] of [
      ['/99', /Redis URL redis:\/\/127\.0\.0\.1:\d+\/99: the server has no database 99 \(it has 16: 0-15\)/],
      ['/abc', /Redis URL redis:\/\/127\.0\.0\.1:\d+\/abc: the path must be a database number such as \/0, got "\/abc"/],
    ] as const) {
      const r = await runCli(['enqueue', 'q', 'Job', '--redis', `${server.url}${path}`], {});
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.deepEqual(await redis.keys('*'), [], 'nothing written to database 0');
  });
});

describe('forkpool: JobPool files, read as kubectl apply reads them', () => {
  const poolText = (extra: string, apiVersion = 'forkpool.io/v1alpha1'): string => {
    const dir = mkdtempSync(join(tmpdir(), 'forkpool-jobpool-'));
    const file = join(dir, 'jobpool.yaml');
    writeFileSync(file, `apiVersion: ${apiVersion}
kind: JobPool
metadata: { name: demo, lables: { team: jobs } }
spec:
  redis: { url: "${server.url}" }
  queues: [work]
  template: { spec: { containers: [{ name: worker, image: example.com/jobs:1, imagePullPolicy: Always }] } }
${extra}`);
    return file;
  };

  it('refuses unknown fields with their paths, the same way in every command that takes a file', async () => {
    const file = poolText('  scaling: { maxReplica: 3 }\n  schedules: [{ name: n, cron: "* * * * *", queue: work, clas: Report }]\n');
    const message = /invalid JobPool: unknown field "metadata\.lables", unknown field "spec\.scaling\.maxReplica", unknown field "spec\.schedules\[0\]\.clas" \(kubectl apply refuses them too\)/;
    for (const args of [['schedule', file], ['up', file, '--jobs', '.'], ['dashboard', file, '--port', '0']]) {
      const r = await runCli(args, env, 20_000);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, message, args[0]);
    }
    const other = await runCli(['schedule', poolText('', 'forkpool.io/v1')], env);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /apiVersion must be forkpool\.io\/v1alpha1, got "forkpool\.io\/v1"/);
    const named = poolText('');
    writeFileSync(named, readFileSync(named, 'utf8').replace('{ name: demo, lables: { team: jobs } }', '{ name: Nightly_Mail }'));
    const badName = await runCli(['schedule', named], env);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /invalid JobPool: metadata\.name: must be lowercase letters, digits, - and \. \(a DNS subdomain name\)/);
  });
});

describe('forkpool stats', () => {
  it('shows Ruby Resque\'s queues, a worker with its running job, and the counters', async () => {
    await loadResqueFixture(redis, ['enqueue', 'while_a_job_runs']);
    const r = await runCli(['stats'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^processed 1 {2}failed 0 {2}pending 1 {2}in flight 0 {2}delayed 0$/m);
    assert.match(r.stdout, /^ {2}demo +1 +0$/m);
    assert.match(r.stdout, /^workers \(1, 1 working\)$/m);
    assert.match(r.stdout, /^ {2}vm:11461:slow +slow +SleepJob \[5\] \(slow, since 2026-11-27T07:12:02Z\)$/m);
    const json = JSON.parse((await runCli(['stats', '--json'], env)).stdout) as { pending: number; workerList: { id: string; job: { payload: unknown } }[] };
    assert.equal(json.pending, 1);
    assert.deepEqual(json.workerList[0]?.job.payload, { class: 'SleepJob', args: [5] });
  });

  it('prints terminal escape sequences in job data escaped', async () => {
    await redis.sadd('resque:queues', 'q');
    await redis.sadd('resque:workers', 'h:1:q');
    await redis.set('resque:worker:h:1:q', JSON.stringify({ queue: 'q', run_at: 'now', payload: { class: 'Evil\u001b[2J', args: ['\u001b]0;pwned\u0007'] } }));
    const r = await runCli(['stats'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('\u001b'), 'no raw ESC reaches the terminal');
    assert.match(r.stdout, /Evil\\x1b\[2J/);
  });
});

describe('forkpool failed', () => {
  it('lists Ruby Resque\'s failures with exception, error and backtrace', async () => {
    await loadResqueFixture(redis, ['after_a_job_raised']);
    const r = await runCli(['failed', 'list', '--backtrace'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      '1 failed',
      '#0  2026/11/27 07:12:13 UTC  demo  FailJob [7,"x"]',
      '    ArgumentError: FailJob failed on purpose with [7, "x"]',
      '      common.rb:29:in `perform\'',
      '',
    ].join('\n'));
    const json = JSON.parse((await runCli(['failed', 'list', '--json'], env)).stdout) as { total: number; items: Record<string, unknown>[] };
    assert.equal(json.total, 1);
    assert.deepEqual(json.items[0], {
      index: 0, failed_at: '2026/11/27 07:12:13 UTC', queue: 'demo', class: 'FailJob', args: [7, 'x'],
      exception: 'ArgumentError', error: 'FailJob failed on purpose with [7, "x"]', backtrace: ['common.rb:29:in `perform\''], worker: 'vm:11753:demo',
    });
  });

  it('retries one failure onto its queue as Resque::Failure.requeue does, and removes one', async () => {
    await loadResqueFixture(redis, ['after_a_job_raised', 'after_the_child_was_killed']);
    const retried = await runCli(['failed', 'retry', '0'], env);
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(retried.stdout, 'retried failure #0: FailJob back on demo\n');
    assert.deepEqual(await redis.lrange('resque:queue:demo', 0, -1), ['{"class":"FailJob","args":[7,"x"]}']);
    assert.match((JSON.parse((await redis.lindex('resque:failed', 0))!) as { retried_at: string }).retried_at, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d UTC$/);

    const removed = await runCli(['failed', 'remove', '1', '--json'], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(JSON.parse(removed.stdout), { removed: 1, class: 'SleepJob' });
    assert.equal(await redis.llen('resque:failed'), 1);
  });

  it('exits 4 for an index that does not exist', async () => {
    await loadResqueFixture(redis, ['after_a_job_raised']);
    for (const action of ['retry', 'remove']) {
      const r = await runCli(['failed', action, '5'], env);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /no failure at index 5 \(there are 1\)/);
    }
  });

  it('retries 10,000 failures with --all, progress on stderr and only the result on stdout; an unreadable one exits 1', async () => {
    const total = 10_000;
    const pipe = redis.pipeline();
    for (let i = 0; i < total; i++) {
      pipe.rpush('resque:failed', JSON.stringify({ failed_at: '2026/11/27 07:12:13 UTC', payload: { class: 'Job', args: [i] }, exception: 'E', error: 'e', backtrace: [], worker: 'w', queue: 'bulk' }));
    }
    pipe.rpush('resque:failed', 'not json');
    await pipe.exec();
    const r = await runCli(['failed', 'retry', '--all', '--json'], env);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { total: number; retried: number; errors: { index: number; error: string }[] };
    assert.equal(out.total, total + 1);
    assert.equal(out.retried, total);
    assert.equal(out.errors.length, 1);
    assert.equal(out.errors[0]?.index, total);
    assert.match(out.errors[0]?.error ?? '', /cannot be retried: not valid JSON/);
    assert.match(r.stderr, new RegExp(`retrying failures ${total + 1}/${total + 1} \\(100%\\)`));
    assert.equal(await redis.llen('resque:queue:bulk'), total);
    assert.equal(await redis.lindex('resque:queue:bulk', 9999), '{"class":"Job","args":[9999]}');
  });
});

describe('forkpool schedule', () => {
  it('lists delayed jobs of resque-scheduler and a JobPool\'s cron schedules with their next fire time', async () => {
    await loadResqueFixture(redis, ['delayed']);
    const dir = mkdtempSync(join(tmpdir(), 'forkpool-cli-'));
    const file = join(dir, 'pool.yaml');
    writeFileSync(file, [
      'apiVersion: forkpool.io/v1alpha1', 'kind: JobPool', 'metadata: { name: mailers }', 'spec:',
      `  redis: { url: "${server.url}" }`, '  queues: [mailers]',
      '  template: { spec: { containers: [{ name: worker, image: x }] } }',
      '  schedules:', '    - { name: nightly, cron: "0 3 * * *", timeZone: UTC, queue: mailers, class: DigestJob, args: [1] }',
    ].join('\n'));
    const r = await runCli(['schedule', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^delayed jobs \(1\)$/m);
    assert.match(r.stdout, /^ {2}2026-11-27 \d\d:\d\d:\d\d UTC {2}dq +NoopJob \["x",1\]$/m);
    assert.match(r.stdout, /^ {2}nightly +0 3 \* \* \* \(UTC\) +mailers +DigestJob \[1\] +\d{4}-\d\d-\d\dT03:00:00\.000Z +-$/m);
    const json = JSON.parse((await runCli(['schedule', file, '--json'])).stdout) as { delayed: { total: number }; schedules: { name: string; next: string }[] };
    assert.equal(json.delayed.total, 1);
    assert.equal(json.schedules[0]?.name, 'nightly');

    writeFileSync(file, 'apiVersion: forkpool.io/v1alpha1\nkind: JobPool\nmetadata: { name: x }\nspec: { queues: [] }\n');
    const bad = await runCli(['schedule', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid JobPool: spec\.redis: .*spec\.queues/);
  });
});
