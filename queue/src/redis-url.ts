// Redis URLs in logs and messages: whatever could let someone in is hidden.

/** Query parameters ioredis reads as credentials (`?password=`, `?sentinelPassword=`, `?username=`, ...). */
const CREDENTIAL_PARAM = /password|username/i;

/** What is shown for a URL that cannot be parsed: any part of it might be a password. */
export const UNPARSEABLE_URL = '(unparseable URL)';

/**
 * A Redis URL fit for logs and messages: its user name, its password and credential query parameters
 * replaced by `***`; host, port, database and other parameters kept. Parsed as ioredis parses it (WHATWG
 * URL), so what is hidden is what ioredis would send; a URL that does not parse is not shown at all.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return UNPARSEABLE_URL;
  }
  if (u.username !== '') u.username = '***';
  if (u.password !== '') u.password = '***';
  const params = [...u.searchParams];
  if (params.some(([name]) => CREDENTIAL_PARAM.test(name))) {
    u.search = new URLSearchParams(params.map(([name, value]): [string, string] => [name, CREDENTIAL_PARAM.test(name) ? '***' : value])).toString();
  }
  return u.toString();
}
