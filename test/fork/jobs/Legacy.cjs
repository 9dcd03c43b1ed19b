// A CommonJS job.
const { writeFileSync } = require('node:fs');

exports.perform = (out) => writeFileSync(out, 'cjs');
