// Throws an error of its own class.
class PaymentDeclined extends Error {}

export function perform(amount) {
  throw new PaymentDeclined(`card declined for ${amount}`);
}
