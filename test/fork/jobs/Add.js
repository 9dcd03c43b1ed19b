// Synchronous: writes a + b to args[0].
import { writeFileSync } from 'node:fs';

export function perform(out, a, b) {
  writeFileSync(out, String(a + b));
}
