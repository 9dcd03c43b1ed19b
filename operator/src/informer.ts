// A list-and-watch cache of one resource that survives what real clusters do. client-node's own
// informer stops on any error but 410 and never re-lists; this one lists, watches from the list's
// resourceVersion, re-lists on 410 Gone, restarts after errors with exponential backoff and jitter,
// restarts a watch that has been quiet too long, and re-lists periodically.
import type { Watcher } from './kube-client.ts';

/** The parts of an object the cache needs. */
export interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; generation?: number; managedFields?: unknown };
}

/** The default of `keep`: everything but managedFields, which are often half an object's size and never read. */
function withoutManagedFields<T extends Meta>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
  return obj;
}

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  continue: string | undefined;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions<T extends Meta> {
  /** For logs and metrics, e.g. `jobpools`. */
  name: string;
  /** One page of the list. */
  list: (limit: number, cont: string | undefined) => Promise<ListPage<T>>;
  /** The watch URL path, e.g. /apis/apps/v1/deployments. */
  watchPath: string;
  labelSelector?: string;
  watch: Watcher;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  quietTimeoutMs?: number;
  /** Re-list everything this often, whatever the watch says. */
  relistIntervalMs?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  pageSize?: number;
  /**
   * What the cache holds of each object, as client-go's SetTransform: only the fields the operator reads,
   * so that a thousand pods or Deployments cost kilobytes each, not tens of. It may change `obj` in place.
   * Default: everything but metadata.managedFields.
   */
  keep?: (obj: T) => T;
  /** Called synchronously for every change; it must only enqueue work. `old` is the cached object before. */
  onChange?: (type: EventType, obj: T, old: T | undefined) => void;
  /** Called when the list-and-watch restarts, with the reason (`gone`, `quiet`, `relist`, `error`). */
  onRestart?: (reason: string, error: unknown) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** `namespace/name` of an object. */
export function objectKey(obj: Meta): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/**
 * Orders two resourceVersions: negative when `a` is older, 0 when equal, positive when newer, undefined
 * when either is not an integer. The API conventions call resourceVersions opaque, but the API server
 * serves etcd revisions, and client-go's MutationCache compares them as integers for the same need:
 * telling our own write from an older copy.
 */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (a === undefined || b === undefined || !/^[0-9]+$/.test(a) || !/^[0-9]+$/.test(b)) return undefined;
  const [x, y] = [BigInt(a), BigInt(b)];
  return x === y ? 0 : x > y ? 1 : -1;
}

const rv = (obj: Meta | undefined): string | undefined => obj?.metadata?.resourceVersion;

type WatchEnd = 'closed' | 'gone' | 'quiet' | 'relist' | 'stopped';

class WatchError extends Error {
  readonly code: number | undefined;
  constructor(message: string, code: number | undefined) {
    super(message);
    this.name = 'WatchError';
    this.code = code;
  }
}

export class Informer<T extends Meta> {
  readonly #o: Required<Omit<InformerOptions<T>, 'labelSelector' | 'onChange' | 'onRestart'>> & InformerOptions<T>;
  /** Exactly what the list and the watch said: the server sends each watch in order, so it never goes back. */
  readonly #store = new Map<string, T>();
  /**
   * Objects the operator wrote, each until the list or the watch shows a version at least as new (what
   * client-go's MutationCache does): a list taken before the write, or a watch event still on its way,
   * must not hand an older copy to the next reconcile.
   */
  readonly #written = new Map<string, T>();
  #resourceVersion = '';
  #synced = false;
  #stopped = false;
  #abort: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #lastListAt = 0;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.#o = {
      quietTimeoutMs: 60_000,
      relistIntervalMs: 10 * 60_000,
      baseBackoffMs: 250,
      maxBackoffMs: 30_000,
      pageSize: 500,
      keep: withoutManagedFields,
      ...options,
    };
  }

  get name(): string {
    return this.#o.name;
  }

  /** True once the first list has been loaded. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The newest copy of an object: what the server last said, or what the operator wrote after that. */
  get(key: string): T | undefined {
    return this.#newest(key, this.#store.get(key));
  }

  list(): T[] {
    const objects = [...this.#store].map(([key, obj]) => this.#newest(key, obj) ?? obj);
    for (const [key, obj] of this.#written) {
      if (!this.#ahead(obj)) this.#written.delete(key);
      else if (!this.#store.has(key)) objects.push(obj);
    }
    return objects;
  }

  /**
   * Keeps an object the operator just wrote (what `keep` keeps of it), so the next read sees the write
   * even before the watch brings it, and until the cache has reached its version. When the versions
   * cannot be ordered, the list and the watch win.
   */
  remember(obj: T): void {
    if (this.#ahead(obj)) this.#written.set(objectKey(obj), this.#o.keep(obj));
  }

  /** Whether a written object is newer than everything the list and the watch have said (the watch's position counts bookmarks and deletions). */
  #ahead(written: T): boolean {
    // Before the first list the cache has seen nothing: any write is ahead of it.
    if (this.#resourceVersion === '') return true;
    return (compareResourceVersions(rv(written), this.#resourceVersion) ?? 0) > 0;
  }

  /** `fromServer`, unless the operator wrote a version the cache has not reached yet; a written copy it has reached is dropped. */
  #newest(key: string, fromServer: T | undefined): T | undefined {
    const written = this.#written.get(key);
    if (written === undefined) return fromServer;
    if (this.#ahead(written)) return written;
    this.#written.delete(key);
    return fromServer;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.();
    this.#wake?.();
    await this.#running;
  }

  async #run(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#relist();
          needList = false;
        }
        const startedAt = Date.now();
        const end = await this.#watchOnce();
        if (end === 'gone' || end === 'relist') needList = true;
        if (end !== 'closed' && end !== 'stopped') this.#o.onRestart?.(end, undefined);
        // A watch the server ends at once, again and again, must not become a tight loop.
        if (end === 'closed' && Date.now() - startedAt < 1000) {
          failures += 1;
          await this.#sleepUnlessStopped(this.#backoff(failures));
        } else {
          failures = 0;
        }
      } catch (err) {
        if (this.#stopped) break;
        failures += 1;
        this.#o.onRestart?.('error', err);
        // After an error the watch position may be gone too: list again once the server answers.
        needList = true;
        await this.#sleepUnlessStopped(this.#backoff(failures));
      }
    }
  }

  /** Exponential backoff with full jitter around it, so that many operators do not retry in step. */
  #backoff(failures: number): number {
    return Math.min(this.#o.baseBackoffMs * 2 ** (failures - 1), this.#o.maxBackoffMs) * (0.5 + Math.random());
  }

  async #sleepUnlessStopped(ms: number): Promise<void> {
    await Promise.race([sleep(ms), new Promise<void>((resolve) => (this.#wake = resolve))]);
    this.#wake = undefined;
  }

  async #relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.#o.list(this.#o.pageSize, cont);
      items.push(...page.items.map((obj) => this.#o.keep(obj)));
      cont = page.continue;
      resourceVersion = page.resourceVersion;
    } while (cont !== undefined && cont !== '');
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.#store.get(key);
      this.#store.set(key, obj);
      // Every object is announced again: a re-list doubles as a resync of level-based reconcilers.
      this.#emit(old === undefined ? 'ADDED' : 'MODIFIED', obj, old);
    }
    for (const [key, old] of this.#store) {
      if (!seen.has(key)) {
        this.#store.delete(key);
        this.#emit('DELETED', old, old);
      }
    }
    this.#resourceVersion = resourceVersion;
    this.#lastListAt = Date.now();
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  #emit(type: EventType, obj: T, old: T | undefined): void {
    try {
      this.#o.onChange?.(type, obj, old);
    } catch {
      // A handler only enqueues keys; it cannot be allowed to stop the cache.
    }
  }

  #watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let settled = false;
      let controller: { abort(): void } | undefined;
      let quiet: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(quiet);
        clearTimeout(relist);
        this.#abort = undefined;
        controller?.abort();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      const armQuiet = (): void => {
        clearTimeout(quiet);
        quiet = setTimeout(() => finish('quiet'), this.#o.quietTimeoutMs);
        quiet.unref();
      };
      const untilRelist = Math.max(0, this.#lastListAt + this.#o.relistIntervalMs - Date.now());
      const relist = setTimeout(() => finish('relist'), untilRelist);
      relist.unref();
      this.#abort = () => finish('stopped');
      armQuiet();
      // The server ends the watch after timeoutSeconds; spread them like client-go so restarts do not align.
      const timeoutSeconds = Math.floor(300 + Math.random() * 300);
      const query: Record<string, string | number | boolean> = {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      };
      if (this.#o.labelSelector !== undefined) query['labelSelector'] = this.#o.labelSelector;
      this.#o.watch
        .watch(
          this.#o.watchPath,
          query,
          (type: string, obj: unknown) => {
            if (settled) return;
            armQuiet();
            this.#onEvent(type, obj, finish);
          },
          (err: unknown) => {
            if (err === null || err === undefined) finish('closed');
            else if (errorCode(err) === 410) finish('gone');
            else finish(err instanceof Error ? err : new Error(JSON.stringify(err)));
          },
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    });
  }

  #onEvent(type: string, raw: unknown, finish: (end: WatchEnd | Error) => void): void {
    const obj = raw as T & { code?: number; message?: string };
    if (type === 'ERROR') {
      // A Status object: 410 means our resourceVersion is too old to watch from.
      if (obj.code === 410) finish('gone');
      else finish(new WatchError(`watch ${this.#o.name}: ${obj.message ?? 'error event'}`, obj.code));
      return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv !== undefined) this.#resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const key = objectKey(obj);
    const old = this.#store.get(key);
    if (type === 'DELETED') {
      this.#store.delete(key);
      this.#emit('DELETED', obj, old);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      const kept = this.#o.keep(obj);
      this.#store.set(key, kept);
      this.#emit(old === undefined ? 'ADDED' : 'MODIFIED', kept, old);
    }
  }
}

function errorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}
