// A TCP proxy that plays a DNS name moved by a failover: each new connection goes to the target of the
// moment, while open ones stay with the server they reached.
import { createConnection, createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { until } from './wait.ts';

export interface TcpProxy {
  readonly port: number;
  /** the port new connections go to */
  target: number;
  /** connections opened so far, per target port */
  readonly opened: Map<number, number>;
  /** Closes the proxy and every connection through it. */
  close(): Promise<void>;
}

/** Starts a proxy on a free port of 127.0.0.1 to `target` on 127.0.0.1. */
export async function startTcpProxy(target: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const opened = new Map<number, number>();
  const server = createServer((client) => {
    opened.set(proxy.target, (opened.get(proxy.target) ?? 0) + 1);
    const upstream = createConnection({ host: '127.0.0.1', port: proxy.target });
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.once('error', () => upstream.destroy());
    upstream.once('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxy: TcpProxy = {
    port: typeof address === 'object' && address ? address.port : 0,
    target,
    opened,
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
