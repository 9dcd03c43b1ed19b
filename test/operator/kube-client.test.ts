// How the operator finds the API server: kubeconfig files (merged as KUBECONFIG lists them), and the pod's
// service account. Pure parsing of files the test writes; the requests themselves run against the test
// control plane in the other operator tests.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { accessFromKubeconfigFiles, inClusterAccess, loadClusterAccess, type ClusterAccess } from '../../operator/src/kube-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'forkpool-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const config = (o: { current?: string; clusters?: string; users?: string; contexts?: string }): string => `apiVersion: v1
kind: Config
${o.current === undefined ? '' : `current-context: ${o.current}\n`}clusters:
${o.clusters ?? ''}
users:
${o.users ?? ''}
contexts:
${o.contexts ?? ''}
`;

const access = (files: { path: string; text: string }[]): ClusterAccess => {
  const loaded = accessFromKubeconfigFiles(files);
  assert.equal(loaded.kind, 'access', JSON.stringify(loaded));
  return loaded.kind === 'access' ? loaded.access : ({} as ClusterAccess);
};

describe('operator: finding the API server', () => {
  it('reads inline certificate data and a token from the current context', () => {
    const text = config({
      current: 'prod',
      clusters: `- name: c1\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: ${b64('CA')}\n    tls-server-name: kubernetes`,
      users: `- name: u1\n  user:\n    client-certificate-data: ${b64('CERT')}\n    client-key-data: ${b64('KEY')}\n    token: abc`,
      contexts: '- name: prod\n  context:\n    cluster: c1\n    user: u1',
    });
    const a = access([{ path: join(dir, 'inline'), text }]);
    assert.equal(a.server, 'https://10.0.0.1:6443');
    assert.equal(a.ca?.toString(), 'CA');
    assert.equal(a.cert?.toString(), 'CERT');
    assert.equal(a.key?.toString(), 'KEY');
    assert.equal(a.token, 'abc');
    assert.equal(a.tlsServerName, 'kubernetes');
  });

  it('reads certificate and token files relative to the kubeconfig file', () => {
    const sub = join(dir, 'files');
    mkdirSync(join(sub, 'pki'), { recursive: true });
    writeFileSync(join(sub, 'pki', 'ca.crt'), 'FILE-CA');
    writeFileSync(join(sub, 'pki', 'admin.crt'), 'FILE-CERT');
    writeFileSync(join(sub, 'pki', 'admin.key'), 'FILE-KEY');
    const text = config({
      current: 'x',
      clusters: '- name: c\n  cluster:\n    server: https://api:6443\n    certificate-authority: pki/ca.crt',
      users: '- name: u\n  user:\n    client-certificate: pki/admin.crt\n    client-key: pki/admin.key\n    tokenFile: pki/token',
      contexts: '- name: x\n  context:\n    cluster: c\n    user: u',
    });
    const a = access([{ path: join(sub, 'config'), text }]);
    assert.equal(a.ca?.toString(), 'FILE-CA');
    assert.equal(a.cert?.toString(), 'FILE-CERT');
    assert.equal(a.key?.toString(), 'FILE-KEY');
    assert.equal(a.tokenFile, join(sub, 'pki', 'token'));
  });

  it('takes a username and password for basic auth, and skip-verify', () => {
    const text = config({
      current: 'x',
      clusters: '- name: c\n  cluster:\n    server: https://api:6443\n    insecure-skip-tls-verify: true',
      users: '- name: u\n  user:\n    username: admin\n    password: s3cret',
      contexts: '- name: x\n  context:\n    cluster: c\n    user: u',
    });
    const a = access([{ path: join(dir, 'basic'), text }]);
    assert.deepEqual([a.username, a.password, a.insecureSkipTlsVerify], ['admin', 's3cret', true]);
  });

  it('merges files as KUBECONFIG lists them: the first name and the first current-context win', () => {
    const first = config({
      clusters: '- name: c\n  cluster:\n    server: https://first:6443',
      contexts: '- name: x\n  context:\n    cluster: c\n    user: u',
    });
    const second = config({
      current: 'x',
      clusters: '- name: c\n  cluster:\n    server: https://second:6443',
      users: '- name: u\n  user:\n    token: from-second',
      contexts: '- name: x\n  context:\n    cluster: other',
    });
    const a = access([{ path: join(dir, 'a'), text: first }, { path: join(dir, 'b'), text: second }]);
    assert.equal(a.server, 'https://first:6443');
    assert.equal(a.token, 'from-second');
  });

  it('says which file and which name is missing', () => {
    const noContext = config({ current: 'gone', clusters: '- name: c\n  cluster:\n    server: https://api:6443' });
    assert.throws(() => accessFromKubeconfigFiles([{ path: '/etc/kc', text: noContext }]), /\/etc\/kc: current-context gone is not among the contexts/);
    const noCurrent = config({ clusters: '- name: c\n  cluster:\n    server: https://api:6443' });
    assert.throws(() => accessFromKubeconfigFiles([{ path: '/etc/kc', text: noCurrent }]), /\/etc\/kc: no current-context/);
    const noUser = config({ current: 'x', clusters: '- name: c\n  cluster:\n    server: https://api:6443', contexts: '- name: x\n  context:\n    cluster: c\n    user: nobody' });
    assert.throws(() => accessFromKubeconfigFiles([{ path: '/etc/kc', text: noUser }]), /names user nobody, which is not among the users/);
    const badServer = config({ current: 'x', clusters: '- name: c\n  cluster:\n    server: 12', contexts: '- name: x\n  context:\n    cluster: c' });
    assert.throws(() => accessFromKubeconfigFiles([{ path: '/etc/kc', text: badServer }]), /\/etc\/kc: clusters\.0\.cluster\.server/);
  });

  it('refuses proxy-url, and hands exec and auth-provider users to client-node', () => {
    const proxied = config({ current: 'x', clusters: '- name: c\n  cluster:\n    server: https://api:6443\n    proxy-url: http://proxy:3128', contexts: '- name: x\n  context:\n    cluster: c' });
    assert.throws(() => accessFromKubeconfigFiles([{ path: '/etc/kc', text: proxied }]), /cluster c: proxy-url is not supported/);
    const exec = config({
      current: 'x',
      clusters: '- name: c\n  cluster:\n    server: https://api:6443',
      users: '- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws-iam-authenticator',
      contexts: '- name: x\n  context:\n    cluster: c\n    user: u',
    });
    assert.deepEqual(accessFromKubeconfigFiles([{ path: '/etc/kc', text: exec }]), { kind: 'delegate', source: '/etc/kc', why: 'user u authenticates with an exec plugin' });
  });

  it('in a pod: the service host and port, the CA and the token file', () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
    const a = inClusterAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    assert.equal(a.server, 'https://[fd00::1]:443');
    assert.equal(a.ca?.toString(), 'SA-CA');
    assert.equal(a.tokenFile, join(sa, 'token'));
    assert.throws(() => inClusterAccess({}, sa), /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
  });

  it('KUBECONFIG naming only missing files is an error, not a fall back to the pod', () => {
    assert.throws(() => loadClusterAccess({ KUBECONFIG: join(dir, 'nope') }), /none of the files KUBECONFIG names exists/);
  });
});
