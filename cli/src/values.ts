// Values typed on the command line that need more than zod's primitives: job arguments as JSON that keep
// every digit, and times in ISO 8601 with a zone.
import { usageError } from './errors.ts';

/** JSON text of an integer, to be written as it is (ES2025's JSON.rawJSON, in Node since 21). */
type RawJson = { readonly rawJSON: string };
const rawJson = (text: string): RawJson => (JSON as unknown as { rawJSON(this: void, text: string): RawJson }).rawJSON(text);
type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;

/**
 * One command-line argument as a JSON value. An integer beyond 2^53 keeps its digits (it is written
 * into the payload as typed, as Ruby's JSON would read it); a number too large for any JSON reader is
 * refused, as is text that is not JSON, with a hint.
 */
export function jsonArgument(text: string, position: number): unknown {
  const reviver: Reviver = (_key, value, context) => {
    if (typeof value !== 'number') return value;
    const source = context.source ?? String(value);
    if (!Number.isFinite(value)) throw usageError(`argument ${position}: ${source} is beyond the range of a number; pass it as a string: '"${source}"'`);
    return /^-?\d+$/.test(source) && !Number.isSafeInteger(value) ? rawJson(source) : value;
  };
  try {
    return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw usageError(`argument ${position} is not a JSON value: ${text} (write strings with JSON quotes, e.g. '"${text.replace(/["\\]/g, '')}"')`);
    }
    throw err;
  }
}

/** ISO 8601 date and time with seconds optional, a fraction optional, and a zone required: Z or ±hh:mm. */
const ISO_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A time given as ISO 8601 with its zone (`2026-12-01T09:00:00Z`, `2026-12-01T10:00+01:00`): a date
 * alone, a time without a zone (whose meaning would depend on this machine's) and dates that do not
 * exist (`2026-02-30`) are refused.
 */
export function isoTime(text: string, flag: string): Date {
  const m = ISO_WITH_ZONE.exec(text);
  const example = 'e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00';
  if (!m) {
    const hint = /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$/.test(text) ? ': add the zone (Z for UTC, or an offset such as +01:00)' : '';
    throw usageError(`${flag} must be an ISO 8601 time with a zone, ${example}; got ${JSON.stringify(text)}${hint}`);
  }
  const date = new Date(text);
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const valid = !Number.isNaN(date.getTime()) && mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth && h <= 23 && mi <= 59 && s <= 59;
  if (!valid) throw usageError(`${flag} ${JSON.stringify(text)} is not a time that exists (${example})`);
  return date;
}
