// Does nothing: measures the worker, not the job.
export function perform() {}
