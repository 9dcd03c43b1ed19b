// Never runs: the fixture afterFork hook throws for this class.
export function perform() {
  throw new Error('perform ran although afterFork failed');
}
