// hawser-store: the broker of one group (ha.mode standalone, replicated or shared-lock). Serves
// Broker.Session, Admin (and, replicated, Member and Replication) over gRPC, journals to
// RocksDB, exposes /metrics /healthz /readyz.
import { runService } from '@hawser/config';
import { createLogger, createRegistry, onShutdown, startHttpEndpoint } from '@hawser/observability';
import { schema, validate } from './config';
import { Store } from './store';

runService('hawser-store', schema, async (raw) => {
  const config = validate(raw);
  const log = createLogger({ service: 'store', group: config.group, node: config.node.id });
  const registry = createRegistry('store', { group: config.group, node: config.node.id });
  let httpPort = 0;
  const store = new Store({ config, log, registry, httpPort: () => httpPort });
  const http = await startHttpEndpoint({ host: config.http.host, port: config.http.port, registry, ready: () => store.ready });
  httpPort = http.port;
  onShutdown(log, async () => {
    await store.stop();
    await http.close();
  });
  await store.start();
  if (config.ha.mode === 'shared-lock' && !store.ready) {
    // ActiveMQ shared-storage slave: ports are bound (sessions get NOT_MASTER) but it is not
    // ready until it holds the data directory's lock.
    log.info({ grpcPort: store.grpcPort, httpPort: http.port, dataDir: config.node.dataDir, haMode: config.ha.mode, retryMs: config.sharedLock.retryMs, pid: process.pid }, 'store waiting');
    await store.locked;
    if (!store.ready) return; // stopped while waiting
  }
  log.info({ grpcPort: store.grpcPort, httpPort: http.port, dataDir: config.node.dataDir, sync: config.sync, haMode: config.ha.mode, position: store.status().lastPosition, pid: process.pid }, 'store ready');
});
