// E2e::MemoryHog: touches `mib` MiB of memory, one MiB at a time, and holds it for `holdMs`: a job that
// needs more memory than its container may use.
export async function perform(mib, holdMs) {
  const held = [];
  for (let i = 0; i < mib; i++) held.push(Buffer.allocUnsafe(1024 * 1024).fill(i & 0xff));
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  return held.length;
}
