// The dashboard's Host header check, a pure function: which names it answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAllowed } from '../../cli/src/dashboard/host-check.ts';

describe('dashboard Host header check', () => {
  const cases: [string, string | undefined, string, string[], boolean][] = [
    ['localhost with a port', 'localhost:5678', '127.0.0.1', [], true],
    ['a name under localhost', 'app.localhost:80', '127.0.0.1', [], true],
    ['an IPv4 address', '10.1.2.3:5678', '0.0.0.0', [], true],
    ['an IPv6 address', '[::1]:5678', '::', [], true],
    ['the bound name', 'dash.internal:5678', 'dash.internal', [], true],
    ['a rebinding site', 'evil.example:5678', '127.0.0.1', [], false],
    ['an allowed name', 'forkpool.example.com', '0.0.0.0', ['forkpool.example.com'], true],
    ['a name of an allowed domain', 'a.b.example.com:443', '0.0.0.0', ['.example.com'], true],
    ['the allowed domain itself', 'example.com', '0.0.0.0', ['.example.com'], true],
    ['a name that only ends like an allowed domain', 'badexample.com', '0.0.0.0', ['.example.com'], false],
    ['letter case and a trailing dot', 'Forkpool.Example.COM.:80', '0.0.0.0', ['forkpool.example.com'], true],
    ['no Host header', undefined, '127.0.0.1', [], false],
  ];
  for (const [name, header, bound, allowed, want] of cases) {
    it(name, () => assert.equal(hostAllowed(header, bound, allowed), want));
  }
});
