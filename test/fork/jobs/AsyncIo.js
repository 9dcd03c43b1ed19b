// Asynchronous work of every kind a job does: a timer, the thread pool (fs.promises), and a TCP
// round trip to the server at args[1]; writes what came back to args[0].
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export async function perform(out, port) {
  await sleep(20);
  const self = await readFile(new URL(import.meta.url), 'utf8');
  const reply = await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end('ping'));
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
  await writeFile(out, JSON.stringify({ reply, readOwnSource: self.includes('round trip') }));
}
