// hawser-store: the broker of one group (standalone in this milestone). Serves Broker.Session
// and Admin over gRPC, journals to RocksDB, exposes /metrics /healthz /readyz.
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
  await store.start();
  log.info({ grpcPort: store.grpcPort, httpPort: http.port, dataDir: config.node.dataDir, sync: config.sync, haMode: config.ha.mode, position: store.status().lastPosition, pid: process.pid }, 'store ready');
  onShutdown(log, async () => {
    await store.stop();
    await http.close();
  });
});
