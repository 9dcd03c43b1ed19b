// An example job: pretends to render and send an email (a few ms of I/O).
export async function perform(userId, address) {
  await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  if (typeof address !== 'string' || !address.includes('@')) throw new TypeError(`user ${userId} has no valid address: ${address}`);
}
