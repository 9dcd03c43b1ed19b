// Does nothing: the cost of fork + job + exit alone.
export function perform() {}
