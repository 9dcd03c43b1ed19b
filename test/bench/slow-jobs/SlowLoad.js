// A job whose module costs 200 ms of CPU to load (a big app boot): paid per child in spawn mode, once in fork mode.
const end = Date.now() + 200;
while (Date.now() < end);

export function perform() {}
