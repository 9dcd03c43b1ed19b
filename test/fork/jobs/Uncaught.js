// Throws from a timer callback, outside perform's promise.
export function perform() {
  setTimeout(() => {
    throw new TypeError('thrown from a timer');
  }, 5);
  return new Promise((resolve) => setTimeout(resolve, 10_000));
}
