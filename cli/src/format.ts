// Text for the terminal: control characters in untrusted data (job args, error messages) are shown escaped.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** A string safe to print: no terminal escape sequences; newlines and tabs kept only when `multiline`. */
export function clean(s: string, multiline = false): string {
  const out = s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return multiline ? out : out.replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** A value as compact JSON, cut to `max` characters. */
export function brief(v: unknown, max = 80): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  s = clean(s);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Rows as aligned columns (the last column is not padded). */
export function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** Seconds since the epoch as `2026-11-27 07:12:02 UTC`. */
export function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
