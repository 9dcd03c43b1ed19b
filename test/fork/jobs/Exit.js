// Calls process.exit in the middle of a job.
export function perform(code) {
  process.exit(code);
}
