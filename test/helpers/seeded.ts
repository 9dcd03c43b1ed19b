// Repeatable randomness for tests and benchmarks: Math.random cannot be seeded.

/** Uniform numbers in [0, 1) from a seed (mulberry32), so that a run (or a failure) can be replayed. */
export function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
