// `npm run cluster [-- --nodes N --real-node --keep]`: starts the test cluster by hand, for
// development and demos, prints `export KUBECONFIG=...` once it is ready, and stops it all on
// Ctrl-C or SIGTERM. --real-node adds a kubelet running real containers (root only), and then
// no fake node unless --nodes asks for some.
import { parseArgs } from 'node:util';
import { startCluster, type Cluster } from './cluster.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    'real-node': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const realNode = values['real-node'];
const nodes = values.nodes === undefined ? (realNode ? 0 : 1) : Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < (realNode ? 0 : 1)) {
  console.error(`--nodes must be a ${realNode ? 'non-negative' : 'positive'} integer, got ${values.nodes}`);
  process.exit(2);
}

let cluster: Cluster | undefined;
let stopping = false;
const shutdown = (signal: NodeJS.Signals): void => {
  if (stopping || cluster === undefined) {
    // A second signal, or one during start-up: leave now; the exit hooks kill what was started.
    console.error(`\n${signal}: stopping now`);
    process.exit(130);
  }
  stopping = true;
  console.error(`\n${signal}: stopping the cluster (again to force)...`);
  cluster.stop().then(
    () => {
      console.error('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
// Keeps the process alive (the components are unreferenced so that tests never hang on them),
// and stops the cluster when whoever started this process goes away without passing a signal
// on: `npm run` exits on SIGTERM and leaves its child behind.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent && !stopping) {
    console.error(`\nthe parent process (${parent}) is gone`);
    shutdown('SIGHUP');
  }
}, 1000);

try {
  cluster = await startCluster({
    nodes,
    realNode,
    keepDir: values.keep,
    onUnexpectedExit: (name, description, tail) => {
      console.error(`\n${description}\n${tail}`);
      if (cluster !== undefined && !stopping) shutdown('SIGTERM');
    },
  });
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
console.error(`kubectl: ${cluster.bin.kubectl}   helm: ${cluster.bin.helm}`);
console.error('Ctrl-C to stop.');
