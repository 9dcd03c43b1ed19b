// An example job: CPU work for a few milliseconds, as image processing would be.
import { createHash } from 'node:crypto';

export function perform(imageId, sizes) {
  let digest = String(imageId);
  for (const size of sizes) for (let i = 0; i < size * 20; i++) digest = createHash('sha256').update(digest).digest('hex');
  return digest;
}
