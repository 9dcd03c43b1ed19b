// Allocates heavily, so that the young and old generations are collected many times in the child.
export function perform(rounds = 40) {
  let keep = [];
  for (let r = 0; r < rounds; r++) {
    const batch = [];
    for (let i = 0; i < 50_000; i++) batch.push({ i, s: `item ${i} of round ${r}`, a: [i, i + 1] });
    keep.push(batch);
    if (keep.length > 5) keep = keep.slice(-5);
  }
  if (keep.length !== 5) throw new Error('lost a batch');
}
