// Which Host headers the dashboard answers: a page on another site that resolves its own name to the
// dashboard's address (DNS rebinding) sends its own name as Host, and is refused; names a user reaches the
// dashboard by are allowed.
import { isIP } from 'node:net';

/**
 * Whether a request's Host header names the dashboard: an IP address (a browser sends one only when the user
 * typed it), `localhost` and `*.localhost`, the address it is bound to, or a name of `allowed` (`.example.com`
 * allows every name under example.com). A missing Host header (HTTP/1.0) is refused.
 */
export function hostAllowed(header: string | undefined, bound: string, allowed: readonly string[]): boolean {
  if (!header) return false;
  // `name:port`, `[v6]:port`, `[v6]`, or a name alone.
  const name = (header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d*$/, '')).toLowerCase().replace(/\.$/, '');
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === bound.toLowerCase()) return true;
  return allowed.some((a) => {
    const want = a.toLowerCase();
    return want.startsWith('.') ? name.endsWith(want) || name === want.slice(1) : name === want;
  });
}
