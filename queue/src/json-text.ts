// Editing a JSON object's text without parsing its values. A payload's bytes are the enqueuer's: a JSON.parse and
// JSON.stringify round trip would turn 12345678901234567891 into 12345678901234567000 and 1.0 into 1, and
// reorder keys such as "2024" first. Node's own tools stop short of this: JSON.rawJSON takes only a
// primitive's text, and JSON.parse's reviver sees the source of primitives only. So the top-level members of
// an object are found with a small scanner that skips strings and nesting, and text is spliced.

/** A top-level member of a JSON object's text: its key, and where its key and its value start and end. */
export interface MemberSpan {
  readonly key: string;
  /** where its key's opening quote is */
  readonly start: number;
  readonly valueStart: number;
  /** just past its value */
  readonly valueEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Past the string whose opening quote is at `i`; -1 when it does not end. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

/** Past the value that starts at `i`; -1 when it does not end. */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return skipString(text, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // a number, true, false or null: up to what ends a value
    let j = i;
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isSpace(c)) break;
    }
    return j > i ? j : -1;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      j = skipString(text, j) - 1;
      if (j < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) {
      return j + 1;
    }
  }
  return -1;
}

/**
 * The top-level members of a JSON object's text, in order (duplicates included); undefined when the text is
 * not an object. It checks the object's own structure, not its values': give it text known to be JSON.
 */
export function objectMembers(text: string): MemberSpan[] | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  const members: MemberSpan[] = [];
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return skipSpace(text, i + 1) === text.length ? members : undefined;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const start = i;
    i = skipString(text, i);
    if (i < 0) return undefined;
    const key = JSON.parse(text.slice(start, i)) as string;
    i = skipSpace(text, i);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const valueStart = skipSpace(text, i + 1);
    const valueEnd = skipValue(text, valueStart);
    if (valueEnd < 0) return undefined;
    members.push({ key, start, valueStart, valueEnd });
    i = skipSpace(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return skipSpace(text, i + 1) === text.length ? members : undefined;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
}

/** The text of a top-level member's value in a JSON object's text (the last, if the key repeats), or undefined. */
export function memberText(text: string, key: string): string | undefined {
  const member = objectMembers(text)?.findLast((m) => m.key === key);
  return member && text.slice(member.valueStart, member.valueEnd);
}

/** A value withMembers writes. */
export type JsonPrimitive = string | number | boolean | null;

/**
 * A JSON object's text with top-level members set, every other byte kept: a member already there gets its new
 * value in place (a repeat of its key goes), and a new one is added after the last. Throws when the text is
 * not a JSON object.
 */
export function withMembers(text: string, members: Readonly<Record<string, JsonPrimitive>>): string {
  const spans = objectMembers(text);
  if (spans === undefined) throw new TypeError(`not the text of a JSON object: ${text.slice(0, 100)}`);
  const values = new Map(Object.entries(members).map(([key, value]) => [key, JSON.stringify(value)]));
  const first = spans[0];
  if (first === undefined) {
    const close = text.lastIndexOf('}');
    return text.slice(0, close) + [...values].map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',') + text.slice(close);
  }
  let out = text.slice(0, first.start);
  const written = new Set<string>();
  let previousEnd = first.start;
  for (const m of spans) {
    const value = values.get(m.key);
    const separator = text.slice(previousEnd, m.start);
    previousEnd = m.valueEnd;
    if (value === undefined) {
      out += separator + text.slice(m.start, m.valueEnd);
    } else if (!written.has(m.key)) {
      written.add(m.key);
      out += separator + text.slice(m.start, m.valueStart) + value;
    } // else a repeat of a key set here: it goes, with the separator before it
  }
  for (const [key, value] of values) if (!written.has(key)) out += `,${JSON.stringify(key)}:${value}`;
  return out + text.slice(previousEnd);
}
