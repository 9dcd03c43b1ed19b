// Rejects after a tick.
export async function perform() {
  await new Promise((resolve) => setTimeout(resolve, 5));
  const err = new RangeError('out of range');
  throw err;
}
