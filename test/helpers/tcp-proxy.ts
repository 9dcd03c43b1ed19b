// A TCP proxy that plays a DNS name moved by a failover: each new connection goes to the target of the
// moment, while open ones stay with the server they reached. It can also play a server that stops
// answering without closing anything (freeze), as a hung server or a partition does. With `tls` it
// terminates TLS with the server's own certificate, so that a frozen connection holds the requests
// themselves, not the handshake (a client then waits on its request, not on its connect timeout).
import { createConnection, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { Redis } from 'ioredis';
import { until } from './wait.ts';

export interface TcpProxy {
  readonly port: number;
  /** the port new connections go to */
  target: number;
  /** connections opened so far, per target port */
  readonly opened: Map<number, number>;
  /** Stops forwarding in both directions on every connection, open or new; nothing is closed. */
  freeze(): void;
  /** Forwards again, what was held first. */
  thaw(): void;
  /** Closes the proxy and every connection through it. */
  close(): Promise<void>;
}

/** The server's certificate and key (PEM), and the authority that signed them, for a proxy that terminates TLS. */
export interface ProxyTls {
  cert: string;
  key: string;
  ca: string;
}

export interface ProxyOptions {
  tls?: ProxyTls;
  /** Sees what each client sends, connection by connection (with `tls`, the plain requests). */
  onClientData?: (connection: number, chunk: Buffer) => void;
}

/** Starts a proxy on a free port of 127.0.0.1 to `target` on 127.0.0.1. */
export async function startTcpProxy(target: number, options: ProxyOptions = {}): Promise<TcpProxy> {
  const { tls, onClientData } = options;
  let connections = 0;
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const opened = new Map<number, number>();
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const forward = ([client, upstream]: [Socket, Socket]): void => {
    client.pipe(upstream).pipe(client);
  };
  const onClient = (client: Socket): void => {
    opened.set(proxy.target, (opened.get(proxy.target) ?? 0) + 1);
    const upstream = tls === undefined ? createConnection({ host: '127.0.0.1', port: proxy.target }) : tlsConnect({ host: '127.0.0.1', port: proxy.target, ca: tls.ca });
    track(client);
    track(upstream);
    const connection = ++connections;
    if (onClientData !== undefined) client.on('data', (chunk: Buffer) => onClientData(connection, chunk));
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.once('close', () => pairs.delete(pair));
    if (frozen) client.pause();
    else forward(pair);
    client.once('error', () => upstream.destroy());
    upstream.once('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  };
  const server = tls === undefined ? createServer(onClient) : createTlsServer({ cert: tls.cert, key: tls.key }, onClient);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxy: TcpProxy = {
    port: typeof address === 'object' && address ? address.port : 0,
    target,
    opened,
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) forward(pair);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** Whether a replica has its link to the primary up and has acknowledged all the primary's writes. */
async function inSync(primary: Redis, replica: Redis): Promise<boolean> {
  const link = /master_link_status:up/.test(await replica.info('replication'));
  return link && Number(await primary.call('WAIT', 1, 1000)) === 1;
}

/** Makes `replica` (on `primaryPort`) a replica of `primary` and waits until it is in sync. */
export async function replicate(primary: Redis, replica: Redis, primaryPort: number): Promise<void> {
  await replica.call('REPLICAOF', '127.0.0.1', String(primaryPort));
  await until('the replica in sync with its primary', () => inSync(primary, replica), 15_000);
}

/**
 * A failover as managed Redis does it: `replica` is promoted once in sync, the old primary becomes its
 * replica (it then answers writes with READONLY), and the proxy sends new connections to the new primary.
 */
export async function failOver(proxy: TcpProxy, primary: Redis, replica: Redis, replicaPort: number): Promise<void> {
  await until('the replica caught up with its primary', () => inSync(primary, replica), 5000);
  await replica.call('REPLICAOF', 'NO', 'ONE');
  await primary.call('REPLICAOF', '127.0.0.1', String(replicaPort));
  proxy.target = replicaPort;
}
