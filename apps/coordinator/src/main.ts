// hawser-coordinator: decides each group's master through ZooKeeper (election, epochs,
// topology). See README.md for the configuration, the ZooKeeper layout and the election.
import { runService } from '@hawser/config';
import { onShutdown } from '@hawser/observability';
import { loadTls, useTls } from '@hawser/proto';
import { useZkAuth } from '@hawser/zk';
import { schema } from './config';
import { Coordinator } from './coordinator';

runService('hawser-coordinator', schema, async (config) => {
  useTls(loadTls(config.tls));
  useZkAuth(config.zk.auth, config.zk.path);
  const c = new Coordinator(config);
  const { grpcPort, httpPort } = await c.start();
  c.log.info({ grpcPort, httpPort, pid: process.pid, zk: config.zk.address, zkPath: config.zk.path }, 'coordinator ready');
  onShutdown(c.log, () => c.stop());
});
