# One Ruby Resque worker forking per job (Resque's default), for `npm run bench:worker` with RESQUE_LIB set:
#   ruby -I$RESQUE_LIB -r ./test/bench/resque/noop.rb test/bench/resque/worker.rb
# REDIS_URL, RESQUE_NAMESPACE and QUEUE as for forkpool-worker.
require 'resque'

Resque.redis = Redis::Namespace.new(ENV.fetch('RESQUE_NAMESPACE'), redis: Redis.new(url: ENV.fetch('REDIS_URL')))
# Polls every 10 ms while idle so that a burst's first job is taken at once; busy, it never sleeps.
Resque::Worker.new(*ENV.fetch('QUEUE').split(',')).work(0.01)
