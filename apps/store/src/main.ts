// hawser-store: the broker of one group (ha.mode standalone, replicated or shared-lock). Serves
// Broker.Session, Admin (and, replicated, Member and Replication) over gRPC, journals to
// RocksDB, exposes /metrics /healthz /readyz.
import { setFlagsFromString } from 'node:v8';
import { runService } from '@hawser/config';
import { createLogger, createRegistry, onShutdown, startHttpEndpoint } from '@hawser/observability';
import { startGateway, type Gateway } from '@hawser/gateway';
import { loadTls, useTls } from '@hawser/proto';
import { useZkAuth } from '@hawser/zk';
import { schema, validate, type Config } from './config';
import { Store } from './store';
import type { Logger, prom } from '@hawser/observability';

runService('hawser-store', schema, async (raw) => {
  const config = validate(raw);
  // Before the store allocates anything: V8 reads this factor each time it sets the next full
  // collection's limit. Its own factor let a slave's old space grow ~1.7x, so each ran a full
  // collection every ~0.7 s at 6,400 msg/s (docs/benchmarks.md, Session 23).
  if (config.node.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.node.heapGrowingPercent}`);
  // This process's identity for every gRPC hop (store, replication, embedded gateway) and ZooKeeper.
  useTls(loadTls(config.tls));
  useZkAuth(config.zk.auth, config.zk.path);
  const log = createLogger({ service: 'store', group: config.group, node: config.node.id });
  const registry = createRegistry('store', { group: config.group, node: config.node.id });
  let httpPort = 0;
  const store = new Store({ config, log, registry, httpPort: () => httpPort });
  const http = await startHttpEndpoint({ log, host: config.http.host, port: config.http.port, registry, ready: () => store.ready, healthy: () => store.healthy });
  httpPort = http.port;
  let gateway: Gateway | undefined;
  onShutdown(log, async () => {
    await gateway?.stop();
    await store.stop();
    await http.close();
  });
  // A failed journal (disk full, read-only, I/O error): a replicated or shared-lock store has
  // left its group (member znode dropped / lock released at stop) and exits 1 so nothing
  // mistakes it for a live master; a standalone one stays up, refusing sessions, unhealthy.
  void store.failure.then(async (err) => {
    if (config.ha.mode === 'standalone') return;
    log.error({ err: err.message, dataDir: config.node.dataDir }, 'store exiting: its journal failed');
    setTimeout(() => process.exit(1), 5000).unref();
    await gateway?.stop().catch(() => undefined);
    await store.stop().catch(() => undefined);
    await http.close().catch(() => undefined);
    process.exit(1);
  });
  await store.start();
  if (config.ha.mode === 'shared-lock' && !store.ready) {
    // ActiveMQ shared-storage slave: ports are bound (sessions get NOT_MASTER) but it is not
    // ready until it holds the data directory's lock.
    log.info({ grpcPort: store.grpcPort, httpPort: http.port, dataDir: config.node.dataDir, haMode: config.ha.mode, retryMs: config.sharedLock.retryMs, pid: process.pid }, 'store waiting');
    await store.locked;
    if (!store.ready) return; // stopped while waiting
  }
  if (config.gateway.enabled) {
    gateway = await startEmbeddedGateway(config, store, log, registry, http.port);
    store.gatewayPorts = { stompPort: gateway.stompPort, wsPort: gateway.wsPort };
  }
  log.info({
    grpcPort: store.grpcPort, httpPort: http.port, dataDir: config.node.dataDir, sync: config.sync, haMode: config.ha.mode, position: store.status().lastPosition, pid: process.pid,
    heapGrowingPercent: config.node.heapGrowingPercent,
    ...(gateway ? { stompPort: gateway.stompPort, wsPort: gateway.wsPort, sslPort: gateway.sslPort, wssPort: gateway.wssPort, mqttPort: gateway.mqttPort, mqttsPort: gateway.mqttsPort } : {}),
  }, 'store ready');
});

/**
 * Home 2 of the gateway: client sessions served by this node. While this node is the master
 * (or standalone) they talk to its broker core in-process; on a slave they go to the master
 * over gRPC, and move in-process when this node is promoted. Its metrics are on this node's
 * /metrics.
 */
function startEmbeddedGateway(config: Config, store: Store, log: Logger, registry: prom.Registry, httpPort: number): Promise<Gateway> {
  const g = config.gateway;
  const replicated = config.ha.mode === 'replicated';
  return startGateway({
    gateway: { id: config.node.id },
    stomp: g.stomp,
    ws: g.ws,
    ssl: g.ssl,
    wss: g.wss,
    mqtt: g.mqtt,
    mqtts: g.mqtts,
    http: { host: config.http.host, port: 0 }, // not served: the store's endpoint has the metrics
    store: { address: store.local.address, openTimeout: 10_000 },
    coordinators: replicated ? config.coordinators : [],
    group: config.group,
    failover: g.failover,
    zk: { address: replicated ? config.zk.address : '', path: config.zk.path, sessionTimeout: config.zk.sessionTimeout, auth: config.zk.auth },
    tls: config.tls, // the process's identity is already set (useTls above): the node's certificate
    limits: g.limits,
    heartbeat: g.heartbeat,
    auth: g.auth,
  }, { log: log.child({ component: 'gateway' }), registry, local: store.local, serveHttp: false, node: config.node.id, metricsPort: httpPort });
}
