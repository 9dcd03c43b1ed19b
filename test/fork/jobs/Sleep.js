// Sleeps args[0] ms, writing its pid to args[1] first when given.
import { writeFileSync } from 'node:fs';

export async function perform(ms, pidFile) {
  if (pidFile) writeFileSync(pidFile, String(process.pid));
  await new Promise((resolve) => setTimeout(resolve, ms));
}
