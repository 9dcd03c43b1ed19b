// Writes crds/jobpool.yaml from the zod schema (`npm run crds`).
import { writeFileSync } from 'node:fs';
import { renderCrd } from '../src/crd.ts';

const path = new URL('../../crds/jobpool.yaml', import.meta.url);
writeFileSync(path, renderCrd());
process.stdout.write(`wrote ${path.pathname}\n`);
