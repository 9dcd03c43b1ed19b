// The informer against a scripted watch: 410 Gone, errors, silent watches and server-side closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Watch } from '@kubernetes/client-node';
import { Informer, type ListPage, type Meta } from '../../operator/src/informer.ts';
import { until } from '../helpers/wait.ts';

type Obj = Meta & { metadata: { name: string; namespace: string; resourceVersion: string } };
const obj = (name: string, rv: number): Obj => ({ metadata: { name, namespace: 'ns', resourceVersion: String(rv) } });

type Callback = (type: string, obj: unknown) => void;
type Done = (err: unknown) => void;

/** A Watch stand-in: each call to watch() is handed to `script`, which drives it. */
function fakeWatch(script: (n: number, query: Record<string, unknown>, cb: Callback, done: Done) => void): Watch & { calls: Record<string, unknown>[] } {
  const calls: Record<string, unknown>[] = [];
  const w = {
    calls,
    watch(_path: string, query: Record<string, unknown>, cb: Callback, done: Done) {
      calls.push(query);
      const controller = new AbortController();
      setImmediate(() => script(calls.length, query, cb, done));
      return Promise.resolve(controller);
    },
  };
  return w as unknown as Watch & { calls: Record<string, unknown>[] };
}

function lister(pages: () => Obj[], rv: () => number): { list: (limit: number, cont: string | undefined) => Promise<ListPage<Obj>>; count: () => number } {
  let count = 0;
  return {
    list: () => {
      count += 1;
      return Promise.resolve({ items: pages(), resourceVersion: String(rv()), continue: undefined });
    },
    count: () => count,
  };
}

test('lists, then applies watch events to the cache and calls the handler', async () => {
  const events: string[] = [];
  const l = lister(() => [obj('a', 1)], () => 1);
  const watch = fakeWatch((n, _q, cb) => {
    if (n > 1) return;
    cb('ADDED', obj('b', 2));
    cb('MODIFIED', obj('a', 3));
    cb('DELETED', obj('b', 4));
    cb('BOOKMARK', { metadata: { resourceVersion: '5' } });
  });
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch, onChange: (t, o) => events.push(`${t} ${o.metadata?.name}`) });
  inf.start();
  await inf.waitForSync();
  await until('events', () => events.length === 4);
  assert.deepEqual(events, ['ADDED a', 'ADDED b', 'MODIFIED a', 'DELETED b']);
  assert.deepEqual(inf.list().map((o) => o.metadata?.resourceVersion), ['3']);
  await inf.stop();
});

test('410 Gone lists again; a throwing handler does not stop the cache', async () => {
  let rv = 10;
  const l = lister(() => [obj('a', rv)], () => rv);
  const restarts: string[] = [];
  const watch = fakeWatch((n, _q, cb, done) => {
    if (n === 1) {
      rv = 20;
      cb('ERROR', { code: 410, message: 'too old resource version' });
    } else if (n === 2) {
      done({ statusCode: 410 });
    }
  });
  const inf = new Informer<Obj>({
    name: 't',
    list: l.list,
    watchPath: '/x',
    watch,
    onChange: () => {
      throw new Error('handler bug');
    },
    onRestart: (reason) => restarts.push(reason),
  });
  inf.start();
  await until('three lists', () => l.count() === 3);
  assert.deepEqual(restarts, ['gone', 'gone']);
  assert.equal(inf.get('ns/a')?.metadata?.resourceVersion, '20');
  assert.equal(watch.calls[1]?.['resourceVersion'], '20');
  await inf.stop();
});

test('errors back off with jitter and list again', async () => {
  const l = lister(() => [], () => 1);
  const restarts: number[] = [];
  const watch = fakeWatch((n, _q, _cb, done) => {
    if (n <= 3) done(new Error('connect ECONNREFUSED'));
  });
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch, baseBackoffMs: 40, onRestart: () => restarts.push(Date.now()) });
  inf.start();
  await until('4 watches', () => watch.calls.length === 4, 5000);
  const gaps = restarts.slice(1).map((t, i) => t - (restarts[i] ?? 0));
  // 40 ms then 80 ms, each times 0.5..1.5.
  assert.ok(gaps[0]! >= 15 && gaps[1]! >= 35, `gaps ${gaps.join(',')}`);
  assert.equal(l.count(), 4, 'a list after every error');
  await inf.stop();
});

test('a silent watch is restarted from its resourceVersion, without a list', async () => {
  const l = lister(() => [obj('a', 7)], () => 7);
  const restarts: string[] = [];
  const watch = fakeWatch(() => undefined);
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch, quietTimeoutMs: 50, onRestart: (r) => restarts.push(r) });
  inf.start();
  await until('3 watches', () => watch.calls.length >= 3, 5000);
  assert.equal(l.count(), 1);
  assert.ok(restarts.every((r) => r === 'quiet'));
  assert.equal(watch.calls[2]?.['resourceVersion'], '7');
  assert.equal(watch.calls[2]?.['allowWatchBookmarks'], true);
  await inf.stop();
});

test('re-lists periodically and drops what disappeared', async () => {
  let items = [obj('a', 1), obj('b', 1)];
  const l = lister(() => items, () => 1);
  const deleted: string[] = [];
  const watch = fakeWatch(() => undefined);
  const inf = new Informer<Obj>({
    name: 't',
    list: l.list,
    watchPath: '/x',
    watch,
    relistIntervalMs: 60,
    onChange: (t, o) => t === 'DELETED' && deleted.push(o.metadata?.name ?? ''),
  });
  inf.start();
  await inf.waitForSync();
  items = [obj('a', 2)];
  await until('relist', () => l.count() >= 2, 5000);
  await until('b dropped', () => deleted.includes('b'));
  assert.equal(inf.get('ns/b'), undefined);
  await inf.stop();
});

test('cached objects carry no managedFields', async () => {
  const withFields = (name: string, rv: number): Obj => ({ metadata: { ...obj(name, rv).metadata, managedFields: [{ manager: 'x' }] } });
  const l = lister(() => [withFields('a', 1)], () => 1);
  const watch = fakeWatch((n, _q, cb) => n === 1 && cb('ADDED', withFields('b', 2)));
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch });
  inf.start();
  await until('b', () => inf.get('ns/b'));
  inf.remember(withFields('c', 3));
  assert.ok(inf.list().every((o) => o.metadata?.managedFields === undefined));
  await inf.stop();
});

test('keep decides what the cache holds of a listed, watched or written object, and what the handler sees', async () => {
  type Big = Obj & { spec?: { big: string } };
  const big = (name: string, rv: number): Big => ({ ...obj(name, rv), spec: { big: 'x'.repeat(1000) } });
  const seen: (Big | undefined)[] = [];
  const l = lister(() => [big('a', 1)], () => 1);
  const watch = fakeWatch((n, _q, cb) => n === 1 && cb('ADDED', big('b', 2)));
  const inf = new Informer<Big>({
    name: 't',
    list: l.list,
    watchPath: '/x',
    watch,
    keep: (o) => ({ metadata: o.metadata }),
    onChange: (_t, o) => seen.push(o),
  });
  inf.start();
  await until('b', () => inf.get('ns/b'));
  inf.remember(big('c', 3));
  assert.deepEqual(inf.list().map((o) => [o.metadata.name, o.spec]), [['a', undefined], ['b', undefined], ['c', undefined]]);
  assert.deepEqual(seen.map((o) => o?.spec), [undefined, undefined]);
  await inf.stop();
});

test('a write is kept until the list or the watch shows a version at least as new', async () => {
  const listed = [obj('a', 1), obj('b', 1)];
  const listRv = 1;
  const l = lister(() => listed, () => listRv);
  let emit: Callback | undefined;
  const watch = fakeWatch((n, _q, cb) => {
    if (n === 1) emit = cb;
  });
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch, relistIntervalMs: 60_000 });
  inf.start();
  await until('the watch', () => emit);
  const rvOf = (name: string): string | undefined => inf.get(`ns/${name}`)?.metadata?.resourceVersion;
  inf.remember(obj('a', 5));
  inf.remember(obj('c', 6));
  emit?.('MODIFIED', obj('a', 4));
  assert.equal(rvOf('a'), '5', 'an older watch event does not hide the write');
  assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'b', 'c']);
  emit?.('MODIFIED', obj('a', 7));
  assert.equal(rvOf('a'), '7', 'a newer one replaces it');
  inf.remember(obj('a', 6));
  assert.equal(rvOf('a'), '7', 'a write older than the cache is not kept');
  emit?.('DELETED', obj('b', 8));
  inf.remember(obj('b', 7));
  assert.equal(inf.get('ns/b'), undefined, 'a write older than a deletion does not bring it back');
  emit?.('BOOKMARK', { metadata: { resourceVersion: '20' } });
  assert.equal(inf.get('ns/c'), undefined, 'c was deleted before 20, or the watch would have said so');
  await inf.stop();
});

test('a re-list taken before a write does not hide it; one taken after drops what it lacks', async () => {
  let listRv = 3;
  const l = lister(() => [obj('a', 2)], () => listRv);
  const inf = new Informer<Obj>({ name: 't', list: l.list, watchPath: '/x', watch: fakeWatch(() => undefined), relistIntervalMs: 30 });
  inf.start();
  await inf.waitForSync();
  inf.remember(obj('a', 9));
  inf.remember(obj('z', 10));
  await until('a re-list', () => l.count() >= 2, 5000);
  assert.equal(inf.get('ns/a')?.metadata?.resourceVersion, '9');
  assert.equal(inf.get('ns/z')?.metadata?.resourceVersion, '10');
  listRv = 11;
  const n = l.count();
  await until('a re-list at 11', () => l.count() >= n + 2, 5000);
  assert.equal(inf.get('ns/a')?.metadata?.resourceVersion, '2', 'the list at 11 is newer than the write at 9');
  assert.equal(inf.get('ns/z'), undefined, 'z was deleted before 11');
  await inf.stop();
});
