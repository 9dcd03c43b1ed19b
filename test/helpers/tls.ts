// Certificates for TLS tests, made with openssl in a temp dir: a CA, a server certificate it signs (for
// 127.0.0.1, localhost and redis.test), a client certificate it signs (mutual TLS), and a second CA that
// signs nothing the server presents (the "wrong CA").
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** a CA that did not sign the server's certificate */
  readonly otherCaFile: string;
  remove(): void;
}

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Makes a CA and the certificates it signs; `serverNames` are the DNS names of the server's certificate. */
export function makeTestCerts(serverNames: readonly string[] = ['localhost', 'redis.test']): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-tls-'));
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string): void => openssl('req', '-x509', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-days', '2', '-subj', `/CN=forkpool test ${name}`);
  const signed = (name: string, ext: string): void => {
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=forkpool test ${name}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  ca('ca');
  ca('other-ca');
  signed('server', `subjectAltName=IP:127.0.0.1,${serverNames.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  signed('client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    otherCaFile: f('other-ca.crt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
