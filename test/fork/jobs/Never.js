// Returns a promise that nothing can ever settle.
export function perform() {
  return new Promise(() => {});
}
