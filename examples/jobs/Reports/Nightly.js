// An example namespaced job, Reports::Nightly (what a Rails app enqueues as `Reports::Nightly`).
export async function perform(day) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return `report for ${day}`;
}
