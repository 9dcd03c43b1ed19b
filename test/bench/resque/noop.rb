# The no-op job of the Resque side of `npm run bench:worker` (test/bench/jobs/Noop.js on forkpool's side).
class Noop
  @queue = :bench

  def self.perform(*) end
end
