// Keeps allocating until it is killed.
export async function perform() {
  const hoard = [];
  for (;;) {
    hoard.push(Buffer.alloc(8 * 1024 * 1024, 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
