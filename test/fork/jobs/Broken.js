// Throws while loading: the zygote must carry on, and running it must fail with the load error.
throw new Error('broken at load');
