// The operator's own Kubernetes client: where the API server is and how to authenticate (a kubeconfig or
// the pod's service account), JSON requests over one keep-alive connection pool, and watches.
//
// @kubernetes/client-node is not loaded on this path: importing its KubeConfig loads every generated model
// and API class, about 60 MiB of the operator's memory. Only a kubeconfig user that needs an `exec` plugin
// or an `auth-provider` loads it, to run that plugin (delegatedAccess()).
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions as RequestOptionsHttps } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LineSplitter } from '../../worker-image/src/line-splitter.ts';

/** Where the API server is and how to talk to it. */
export interface ClusterAccess {
  /** https://host:port, possibly with a path prefix. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** A bearer token. */
  token?: string;
  /** A file holding a bearer token, re-read as it rotates (a service account's projected token). */
  tokenFile?: string;
  username?: string;
  password?: string;
  /** Headers for a user only client-node can authenticate (exec plugin, auth-provider), asked per request. */
  authHeaders?: () => Promise<Record<string, string>>;
}

/** The part of client-node's KubeConfig read by accessFromKubeConfig (the tests hand one in). */
export type KubeConfigLike = Pick<KubeConfig, 'getCurrentCluster' | 'getCurrentUser' | 'applyToHTTPSOptions'>;

/** A failed API call: the HTTP status and the API server's Status body, as statusCode() and apiMessage() read them. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: string;

  constructor(method: string, path: string, code: number, body: string) {
    super(`${method} ${path}: HTTP ${code}: ${statusMessage(body)}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
  }
}

function statusMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not a Status object
  }
  return body.slice(0, 300);
}

const fileOrData = (data: string | undefined, file: string | undefined, base: string): Buffer | undefined => {
  if (data !== undefined && data !== '') return Buffer.from(data, 'base64');
  if (file !== undefined && file !== '') return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
};

/** Reads a header record out of what client-node's applyToHTTPSOptions set (a Headers or a plain record). */
function headerRecord(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined || headers === null) return out;
  if (typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function') {
    (headers as Headers).forEach((value, name) => {
      out[name] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) if (typeof value === 'string') out[name] = value;
  return out;
}

/**
 * The current context of a client-node KubeConfig as ClusterAccess. Users with an exec plugin or an
 * auth-provider other than a token file authenticate through the KubeConfig itself, per request.
 */
export function accessFromKubeConfig(kc: KubeConfigLike): ClusterAccess {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the Kubernetes configuration has no current cluster');
  if (cluster.proxyUrl !== undefined && cluster.proxyUrl !== '') throw new Error(`cluster ${cluster.name}: proxy-url is not supported`);
  const user = kc.getCurrentUser();
  const access: ClusterAccess = {
    server: cluster.server,
    ca: fileOrData(cluster.caData, cluster.caFile, ''),
    insecureSkipTlsVerify: cluster.skipTLSVerify,
    tlsServerName: cluster.tlsServerName,
  };
  if (user === null) return access;
  access.cert = fileOrData(user.certData, user.certFile, '');
  access.key = fileOrData(user.keyData, user.keyFile, '');
  if (user.token !== undefined && user.token !== '') access.token = user.token;
  if (user.username !== undefined && user.username !== '') {
    access.username = user.username;
    access.password = user.password ?? '';
  }
  // client-node's in-cluster configuration: the service account's token file, as an auth-provider.
  const provider = user.authProvider as { name?: unknown; config?: { tokenFile?: unknown } } | undefined;
  const tokenFile = provider?.name === 'tokenFile' ? provider.config?.tokenFile : undefined;
  if (typeof tokenFile === 'string') access.tokenFile = tokenFile;
  else if (user.exec !== undefined || user.authProvider !== undefined) {
    // client-node caches the plugin's credential until it expires, but requests that ask at once, before
    // the first run ended, would each run it: they share one run.
    let asking: Promise<Record<string, string>> | undefined;
    const ask = async (): Promise<Record<string, string>> => {
      const options: RequestOptionsHttps = { headers: {} };
      await kc.applyToHTTPSOptions(options);
      return headerRecord(options.headers);
    };
    access.authHeaders = () => {
      asking ??= ask().finally(() => {
        asking = undefined;
      });
      return asking;
    };
  }
  return access;
}

// ---- kubeconfig files, as client-go and client-node read them ----

const ClusterEntry = z
  .object({
    server: z.string(),
    'certificate-authority': z.string().optional(),
    'certificate-authority-data': z.string().optional(),
    'insecure-skip-tls-verify': z.boolean().optional(),
    'tls-server-name': z.string().optional(),
    'proxy-url': z.string().optional(),
  })
  .passthrough();
const UserEntry = z
  .object({
    'client-certificate': z.string().optional(),
    'client-certificate-data': z.string().optional(),
    'client-key': z.string().optional(),
    'client-key-data': z.string().optional(),
    token: z.string().optional(),
    tokenFile: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    exec: z.unknown().optional(),
    'auth-provider': z.unknown().optional(),
  })
  .passthrough();
const ContextEntry = z.object({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() }).passthrough();
const KubeconfigFile = z
  .object({
    'current-context': z.string().nullish(),
    clusters: z.array(z.object({ name: z.string(), cluster: ClusterEntry })).nullish(),
    users: z.array(z.object({ name: z.string(), user: UserEntry.nullish() })).nullish(),
    contexts: z.array(z.object({ name: z.string(), context: ContextEntry })).nullish(),
  })
  .passthrough();

/** What loadClusterAccess found: the access, or that only client-node can authenticate this user. */
export type LoadedAccess = { kind: 'access'; access: ClusterAccess; source: string } | { kind: 'delegate'; source: string; why: string };

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Parses kubeconfig files (as KUBECONFIG lists them, merged: the first file that names a cluster, user or
 * context wins, and the first current-context set) into the current context's access. Relative paths in a
 * file are relative to that file's folder. Throws with the file and field on what it cannot use.
 */
export function accessFromKubeconfigFiles(files: readonly { path: string; text: string }[]): LoadedAccess {
  const source = files.map((f) => f.path).join(delimiter);
  const clusters = new Map<string, { base: string; cluster: z.infer<typeof ClusterEntry> }>();
  const users = new Map<string, { base: string; user: z.infer<typeof UserEntry> | null | undefined }>();
  const contexts = new Map<string, z.infer<typeof ContextEntry>>();
  let current: string | undefined;
  for (const { path, text } of files) {
    const parsed = KubeconfigFile.safeParse(parseYaml(text) ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${path}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid kubeconfig'}`);
    }
    const base = dirname(path);
    for (const c of parsed.data.clusters ?? []) if (!clusters.has(c.name)) clusters.set(c.name, { base, cluster: c.cluster });
    for (const u of parsed.data.users ?? []) if (!users.has(u.name)) users.set(u.name, { base, user: u.user });
    for (const c of parsed.data.contexts ?? []) if (!contexts.has(c.name)) contexts.set(c.name, c.context);
    const cc = parsed.data['current-context'];
    if (current === undefined && cc !== undefined && cc !== null && cc !== '') current = cc;
  }
  if (current === undefined) throw new Error(`${source}: no current-context`);
  const context = contexts.get(current);
  if (context === undefined) throw new Error(`${source}: current-context ${current} is not among the contexts`);
  const c = clusters.get(context.cluster);
  if (c === undefined) throw new Error(`${source}: context ${current} names cluster ${context.cluster}, which is not among the clusters`);
  const proxy = c.cluster['proxy-url'];
  if (proxy !== undefined && proxy !== '') throw new Error(`${source}: cluster ${context.cluster}: proxy-url is not supported`);
  const access: ClusterAccess = {
    server: c.cluster.server,
    ca: fileOrData(c.cluster['certificate-authority-data'], c.cluster['certificate-authority'], c.base),
    insecureSkipTlsVerify: c.cluster['insecure-skip-tls-verify'],
    tlsServerName: c.cluster['tls-server-name'],
  };
  const userName = context.user;
  if (userName === undefined || userName === '') return { kind: 'access', access, source };
  const u = users.get(userName);
  if (u === undefined) throw new Error(`${source}: context ${current} names user ${userName}, which is not among the users`);
  const user = u.user ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    return { kind: 'delegate', source, why: `user ${userName} authenticates with ${user.exec !== undefined ? 'an exec plugin' : 'an auth-provider'}` };
  }
  access.cert = fileOrData(user['client-certificate-data'], user['client-certificate'], u.base);
  access.key = fileOrData(user['client-key-data'], user['client-key'], u.base);
  if (user.token !== undefined && user.token !== '') access.token = user.token;
  if (user.tokenFile !== undefined && user.tokenFile !== '') access.tokenFile = isAbsolute(user.tokenFile) ? user.tokenFile : join(u.base, user.tokenFile);
  if (user.username !== undefined && user.username !== '') {
    access.username = user.username;
    access.password = user.password ?? '';
  }
  return { kind: 'access', access, source };
}

/** The pod's service account: the API server's address from the environment, its CA and the token file. */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): ClusterAccess {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host === undefined || host === '' || port === undefined || port === '') throw new Error('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${hostPart}:${port}`, ca: readFileSync(join(dir, 'ca.crt')), tokenFile: join(dir, 'token') };
}

/**
 * Where to find the API server, in client-node's loadFromDefault order: the files KUBECONFIG lists, else
 * ~/.kube/config, else the pod's service account.
 */
export function loadClusterAccess(env: NodeJS.ProcessEnv = process.env): LoadedAccess {
  const listed = (env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== '');
  const candidates = listed.length > 0 ? listed : [join(env['HOME'] ?? homedir(), '.kube', 'config')];
  const files: { path: string; text: string }[] = [];
  for (const path of candidates) {
    try {
      files.push({ path, text: readFileSync(path, 'utf8') });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (files.length > 0) return accessFromKubeconfigFiles(files);
  if (listed.length > 0) throw new Error(`none of the files KUBECONFIG names exists: ${listed.join(delimiter)}`);
  return { kind: 'access', access: inClusterAccess(env), source: 'in-cluster service account' };
}

/** A user only client-node can authenticate: it loads the configuration and runs the plugin for us. */
export async function delegatedAccess(): Promise<ClusterAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return accessFromKubeConfig(kc);
}

// ---- requests and watches ----

/** How often a token file is read again: a projected service-account token rotates, as client-go re-reads it. */
const TOKEN_FILE_TTL_MS = 60_000;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** A response's body, whole. */
async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The watch callback's shape, as client-node's Watch has it (informer.ts takes either). */
export interface Watcher {
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
}

export class KubeClient implements Watcher {
  readonly #access: ClusterAccess;
  readonly #base: URL;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpsRequest;
  #token: { value: string; readAt: number } | undefined;

  constructor(access: ClusterAccess) {
    this.#access = access;
    this.#base = new URL(access.server);
    const tls = this.#base.protocol === 'https:';
    if (!tls && this.#base.protocol !== 'http:') throw new Error(`server ${access.server}: not an http(s) URL`);
    // One pool for every request and watch: TLS handshakes once per connection, not per call.
    this.#agent = tls
      ? new HttpsAgent({
          keepAlive: true,
          ca: access.ca,
          cert: access.cert,
          key: access.key,
          rejectUnauthorized: access.insecureSkipTlsVerify !== true,
          ...(access.tlsServerName !== undefined && access.tlsServerName !== '' ? { servername: access.tlsServerName } : {}),
        })
      : new HttpAgent({ keepAlive: true });
    this.#request = tls ? httpsRequest : httpRequest;
  }

  async #headers(): Promise<Record<string, string>> {
    const a = this.#access;
    if (a.authHeaders !== undefined) return await a.authHeaders();
    if (a.tokenFile !== undefined) {
      const now = performance.now();
      if (this.#token === undefined || now - this.#token.readAt > TOKEN_FILE_TTL_MS) this.#token = { value: readFileSync(a.tokenFile, 'utf8').trim(), readAt: now };
      return { authorization: `Bearer ${this.#token.value}` };
    }
    if (a.token !== undefined) return { authorization: `Bearer ${a.token}` };
    if (a.username !== undefined) return { authorization: `Basic ${Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64')}` };
    return {};
  }

  #url(path: string, query: RequestOptions['query']): URL {
    const url = new URL(this.#base.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** Sends a request; resolves with the response once its headers arrived. */
  async #send(method: string, path: string, options: RequestOptions): Promise<IncomingMessage> {
    const url = this.#url(path, options.query);
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.#headers()) };
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    if (payload !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    options.signal?.throwIfAborted();
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.#request(url, { method, headers, agent: this.#agent, signal: options.signal }, resolve);
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A JSON request; throws a KubeApiError for an HTTP error status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.#send(method, path, options);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeApiError(method, path, status, text);
    return JSON.parse(text) as T;
  }

  /**
   * Watches `path` from the query's resourceVersion: each event to `callback`, then `done` once, with null when
   * the server ended the watch, a KubeApiError for an HTTP error status, or the error that broke the stream.
   * The returned controller stops it (then `done` is not called).
   */
  async watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<{ abort(): void }> {
    const controller = new AbortController();
    let finished = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      if (!controller.signal.aborted) done(err);
    };
    const res = await this.#send('GET', path, { query: { ...query, watch: true }, signal: controller.signal });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      readBody(res).then((body) => finish(new KubeApiError('GET', path, status, body)), finish);
      return controller;
    }
    // A watch event can be megabytes, in many chunks: LineSplitter searches each byte for a newline once.
    const lines = new LineSplitter();
    res.on('data', (chunk: Buffer) => {
      for (const raw of lines.push(chunk)) {
        const line = raw.trim();
        if (line === '') continue;
        let event: { type?: unknown; object?: unknown };
        try {
          event = JSON.parse(line) as { type?: unknown; object?: unknown };
        } catch {
          res.destroy();
          finish(new Error(`watch ${path}: a line that is not JSON: ${line.slice(0, 200)}`));
          return;
        }
        if (typeof event.type === 'string') callback(event.type, event.object);
      }
    });
    res.on('end', () => finish(null));
    res.on('error', finish);
    res.on('close', () => finish(res.complete ? null : new Error(`watch ${path}: the connection closed`)));
    return controller;
  }

  /** Closes the pooled connections. */
  close(): void {
    this.#agent.destroy();
  }
}
