// Splitting a byte stream into lines: how the master, the zygote and the children read each other's JSON lines.
// Dependency-free: a spawn-mode child loads it (spawn-child.ts; the build bundles both into spawn-child.cjs).

/**
 * Splits a byte stream into lines on the byte 0x0a, which UTF-8 never uses inside a character, so each line
 * is decoded once, whole. The unfinished line is kept as the pieces it came in, and only the bytes of a new
 * chunk are searched for a newline: a line of N bytes costs O(N) however many chunks it spans, and a line
 * of tens of MB never stalls the reader. Empty lines are skipped.
 */
export class LineSplitter {
  /** the unfinished line, in pieces (copies: a caller may read into the same buffer again) */
  readonly #pieces: Buffer[] = [];
  #work = 0;

  /** The lines that the chunk completes. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.#work += nl + 1 - start;
      const last = chunk.subarray(start, nl);
      const line = this.#pieces.length === 0 ? last : Buffer.concat([...this.#pieces.splice(0), last]);
      if (line.length > 0) lines.push(line.toString('utf8'));
      this.#work += line === last ? line.length : 2 * line.length;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#pieces.push(Buffer.from(chunk.subarray(start)));
      this.#work += 2 * (chunk.length - start);
    }
    return lines;
  }

  /**
   * Bytes searched for a newline, copied or decoded so far: at most four for each byte pushed (each is
   * searched once, copied once when its line spans chunks and once more when that line ends, and decoded).
   */
  get work(): number {
    return this.#work;
  }
}
