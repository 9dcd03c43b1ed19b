// E2e::Record: records its id when it starts and when it ends, sleeping `sleepMs` in between, by POSTing one
// JSON line each to `url` (the test's recorder, on the real node's bridge address): the worker pods of a
// restricted namespace can mount no folder of the host. A job that was interrupted shows a start without an
// end; a record the recorder did not take fails the job, which is then retried.
import { request } from 'node:http';

function post(url, line) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`the recorder answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(line));
  });
}

export async function perform(url, id, sleepMs) {
  await post(url, { id, event: 'start', pid: process.pid });
  await new Promise((resolve) => setTimeout(resolve, sleepMs));
  await post(url, { id, event: 'end', pid: process.pid });
}
