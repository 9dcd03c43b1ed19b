// A namespaced class, Reports::Daily, as an .mjs module.
import { writeFileSync } from 'node:fs';

export async function perform(out, day) {
  writeFileSync(out, `report for ${day}`);
}
