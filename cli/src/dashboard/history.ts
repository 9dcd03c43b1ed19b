// The recent depth of every queue, sampled by the dashboard server, for the sparklines.

export class QueueHistory {
  readonly #samples = new Map<string, number[]>();
  readonly #length: number;

  constructor(length: number) {
    this.#length = length;
  }

  /** Records one sample of every queue; a queue missing from `sizes` (removed) counts as 0. */
  record(sizes: Readonly<Record<string, number>>): void {
    for (const name of new Set([...this.#samples.keys(), ...Object.keys(sizes)])) {
      const list = this.#samples.get(name) ?? [];
      list.push(sizes[name] ?? 0);
      if (list.length > this.#length) list.splice(0, list.length - this.#length);
      // A queue that has been gone and empty for the whole window is forgotten.
      if (!(name in sizes) && list.every((n) => n === 0)) this.#samples.delete(name);
      else this.#samples.set(name, list);
    }
  }

  /** The samples of a queue, oldest first. */
  of(name: string): number[] {
    return [...(this.#samples.get(name) ?? [])];
  }
}
