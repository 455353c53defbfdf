// Options of the store service (apps/store/README.md lists them with their meaning).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { bool, ConfigError, int, list, oneOf, port, str, type ConfigOf } from '@hawser/config';
import { schema as gatewaySchema } from '@hawser/gateway';
import { tlsSchema } from '@hawser/proto';
import { zkAuthField } from '@hawser/zk';

/** ActiveMQ's replication sync modes (replicatedLevelDB `sync`). */
export const SYNC_MODES = ['local_mem', 'local_disk', 'remote_mem', 'remote_disk', 'quorum_mem', 'quorum_disk'] as const;

export const schema = {
  group: str('default', 'group (ActiveMQ brokerName) this store belongs to', { allowEmpty: false }),
  node: {
    id: str(hostname(), 'this store\'s id within its group (logs, metrics, election)', { allowEmpty: false }),
    dataDir: str('', 'RocksDB directory (default ./data/<node.id>)'),
    hostname: str('127.0.0.1', 'host other stores, coordinators and gateways use to reach this store\'s gRPC port (replicated)'),
    weight: int(1, 'election preference among equally up-to-date members: higher wins (replicated)', 0, 1_000_000),
    heapGrowingPercent: int(400, 'after each full garbage collection the JavaScript heap may grow to 1 + N/100 times what is live before the next (V8 --heap-growing-percent): fewer full collections, each a pause that marks the whole live heap, for more memory; 0 = V8\'s own factor (1.1-4x)', 0, 10_000),
  },
  replicas: int(3, 'group size N (ActiveMQ replicas); quorum = N/2+1 counting the master (replicated)', 1, 99),
  zk: {
    address: str('127.0.0.1:2181', 'ZooKeeper connect string host:port[,host:port] (replicated; empty: no membership, tests)'),
    path: str('/hawser', 'ZooKeeper root path (zkPath)', { allowEmpty: false }),
    sessionTimeout: int(4000, 'ZooKeeper session timeout (ms): a lost session fences a master', 100, 600_000),
    auth: zkAuthField,
  },
  replication: {
    masterTimeoutMs: int(1000, 'slave: report masterLost after this long without a message from the master (ms)', 10, 600_000),
    heartbeatMs: int(200, 'master: heartbeat/retransmit period towards quiet slaves (ms)', 5, 60_000),
  },
  coordinators: list([], 'coordinator gRPC addresses (host:port) for Topology.ReportMasterLost; empty: rely on member znodes'),
  sharedLock: {
    retryMs: int(2000, 'shared-lock: how often a waiting store retries the RocksDB lock (ms)', 10, 600_000),
  },
  grpc: {
    host: str('127.0.0.1', 'address of the gRPC server (Broker and Admin services)'),
    port: port(61620, 'port of the gRPC server (0: pick a free one)'),
    streamBufferBytes: int(8 * 1024 * 1024, 'bytes a gateway\'s session stream (Broker.Session / Sessions) may hold written and not yet sent (its gateway reads slowly): above it, its sessions get no deliveries until half of it is sent', 64 * 1024, 1024 * 1024 * 1024),
  },
  // Mutual TLS of every gRPC hop of this node, server and client (docs/security.md); the
  // certificate's CN must be node.id (replication peers are checked against the members).
  tls: tlsSchema,
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8171, 'port of /metrics, /healthz, /readyz (0: pick a free one)'),
  },
  sync: oneOf('quorum_mem', SYNC_MODES, 'when a persistent SEND is receipted: *_mem = written without fsync, *_disk = fsynced (standalone: quorum of one, this node)'),
  ha: {
    mode: oneOf('standalone', ['standalone', 'replicated', 'shared-lock'] as const, 'high-availability mode: standalone, replicated (master/slave group over ZooKeeper), shared-lock (one data dir, whoever holds its lock is master)'),
  },
  broker: {
    defaultPrefetch: int(1000, 'prefetch of a subscription that asks for 0', 1, 1_000_000),
    maximumRedeliveries: int(6, 'failed deliveries before the DLQ (ActiveMQ: the 7th failure moves it); -1 = never', -1, 1_000_000),
    deadLetterQueue: str('/queue/ActiveMQ.DLQ', 'dead-letter queue (a /queue/ destination)', { allowEmpty: false }),
    dedupWindow: int(100_000, 'message ids remembered for duplicate detection (persisted)', 1, 100_000_000),
    pageSize: int(1000, 'messages of each destination kept in memory; the rest are paged from disk', 1, 10_000_000),
    forcePersistent: bool(false, 'store every message as persistent, whatever the sender asked'),
    maxNonPersistent: int(100_000, 'non-persistent messages a queue or topic subscription holds at most (they live in memory only); beyond it the oldest waiting one is discarded; 0 = no bound', 0, 1_000_000_000),
    maxNonPersistentBytes: int(128 * 1024 * 1024, 'the same bound in bytes (bodies and headers) per queue or topic subscription: two of the largest messages (the gateway\'s limits.maxFrameSize, 65 MiB); 0 = no bound', 0, Number.MAX_SAFE_INTEGER),
    // A selector runs on the store's event loop for every message of its destination: its cost is bounded.
    selectorMaxLength: int(4096, 'longest selector a SUBSCRIBE may carry, in characters; a longer one is refused (the client gets an ERROR naming this key)', 1, 1_000_000),
    selectorMaxDepth: int(64, 'deepest nesting of a selector (parentheses, NOT, signs, chains of arithmetic or comparisons); deeper is refused', 1, 256),
    selectorMaxInList: int(1024, 'most members of one IN list of a selector; more is refused', 1, 1_000_000),
    dedupWindowPerScope: int(10_000, 'dedup keys one producer scope (a login; all bridges together) holds at most: past it that scope forgets its own oldest, so nobody can push others\' ids out of the window; ids are remembered per (login, destination)', 1, 100_000_000),
    memoryLimit: int(512 * 1024 * 1024, 'producer flow control (ActiveMQ memoryUsage): bytes of messages held in memory (non-persistent ones, persistent ones not yet durable, SENDs of open transactions) at which SENDs are held (or refused, sendFailIfNoSpace) until consumers make room; 0 = no limit', 0, Number.MAX_SAFE_INTEGER),
    storeLimit: int(100 * 1024 * 1024 * 1024, 'producer flow control (ActiveMQ storeUsage): bytes of persistent messages stored at which persistent SENDs are held (or refused) until consumers make room; 0 = no limit', 0, Number.MAX_SAFE_INTEGER),
    sendFailIfNoSpace: bool(false, 'at broker.memoryLimit or broker.storeLimit refuse a SEND with NO_SPACE (the client gets an ERROR) instead of holding it until there is room'),
    sendFailIfNoSpaceAfterTimeout: int(0, 'hold a SEND at most this many ms for room, then refuse it with NO_SPACE; 0 = hold while it takes', 0, 86_400_000),
    maxHeldRequests: int(10_000, 'requests one session may have held for room; beyond it the session ends with NO_SPACE (a client waiting for its receipts never gets there: the gateway stops reading it at limits.maxPendingReceipts)', 1, 10_000_000),
    maxRetained: int(100_000, 'topics that may hold a retained message (a SEND with ActiveMQ.Retain: true, MQTT retain); a retained SEND for one more topic gets an ERROR (LIMIT_EXCEEDED) naming this key, replacing or clearing one always works; they are journaled and kept in memory; 0 = no bound', 0, Number.MAX_SAFE_INTEGER),
    maxRetainedBytes: int(256 * 1024 * 1024, 'bytes (bodies and headers) the retained messages may take together, in memory and on disk; a retained SEND beyond it gets an ERROR (LIMIT_EXCEEDED) naming this key; 0 = no bound', 0, Number.MAX_SAFE_INTEGER),
    maxDestinations: int(10_000, 'destination names (queues, topics, durable subscriptions) this store takes at most, counting every name seen since it started (each keeps its metric series); a SEND or SUBSCRIBE naming one more gets an ERROR (LIMIT_EXCEEDED), the known ones keep working; 0 = no bound', 0, Number.MAX_SAFE_INTEGER),
  },
  journal: {
    maxBatch: int(1000, 'max journal entries per group commit (one RocksDB batch)', 1, 1_000_000),
    replicaApplyMs: int(100, 'replicated slave: committed entries are applied to the indexes in windows of this many ms (or maxBatch entries), so a message acked within the window is never written as a record; 0 = at once', 0, 60_000),
    ackHoldMs: int(2, 'standalone, and replicated master: an entry that only removes messages (consumer acks, which no receipt-less client waits on) may wait up to this many ms to ride with the next proposal instead of making its own; 0 = propose at once', 0, 1000),
    gatherMs: int(5, 'replicated, quorum_mem/remote_mem: a node\'s journal write waits up to this many ms for more entries to write them as one RocksDB batch (fewer batches and thread hand-offs per message); no receipt waits on it (a *_mem receipt waits for the slaves\' memory), only the group\'s commit point. A receipted message is then in the memory of a quorum and on no disk for up to this long plus a write: losing a quorum\'s processes at once within it loses it (as quorum_mem always could for the length of a write; quorum_disk for that). The *_disk modes write at once; 0 = write at once', 0, 10_000),
    maxInflight: int(2, 'replicated master: proposals sent to the slaves and not yet acknowledged before new entries wait and go out as one batch (0 = no limit)', 0, 1_000_000),
    retention: int(100_000, 'journal entries kept after they are applied (replica catch-up)', 1, 1_000_000_000),
    writeBufferBytes: int(64 * 1024 * 1024, 'RocksDB memtable size (bytes): bigger means fewer flushes under load; up to about twice this is held in memory (a full memtable being flushed while the next fills)', 1024 * 1024, 1024 * 1024 * 1024),
    cacheBytes: int(32 * 1024 * 1024, 'RocksDB block cache (bytes) for reads of stored messages', 1024 * 1024, 16 * 1024 * 1024 * 1024),
    retentionBytes: int(256 * 1024 * 1024, 'replicated: message bytes of applied entries the replication log holds in memory (and at most 10,000 entries); a slave behind them gets older entries read back from RocksDB, one further behind than journal.retention a snapshot; 0 = no byte bound', 0, Number.MAX_SAFE_INTEGER),
    diskWarnBytes: int(1024 * 1024 * 1024, 'warn (rate-limited, once a minute) while the data directory\'s filesystem has fewer free bytes than this (hawser_store_disk_free_bytes); 0 = never warn', 0, Number.MAX_SAFE_INTEGER),
    diskCheckMs: int(5000, 'how often the free space of the data directory\'s filesystem is measured (ms)', 100, 3_600_000),
  },
  tickMs: int(100, 'period of the expiry tick (ms)', 1, 60_000),
  // The embedded gateway (home 2 of @hawser/gateway): clients connect to the store node itself.
  authorization: {
    file: str('', 'the authorization map: one "queue|topic <pattern> <read groups> <write groups> <admin groups>" per line (docs/security.md); every session\'s SEND and SUBSCRIBE is checked against it, whatever gateway, protocol or bridge opened it. Re-read when it changes. Empty: every session may do everything'),
  },
  gateway: {
    enabled: bool(false, 'serve STOMP clients from this node: in-process while it is the master (no gRPC hop), over gRPC to the master while it is a slave, moving sessions when the master changes (replicated: needs coordinators)'),
    stomp: gatewaySchema.stomp,
    ws: gatewaySchema.ws,
    ssl: gatewaySchema.ssl,
    wss: gatewaySchema.wss,
    mqtt: gatewaySchema.mqtt,
    mqtts: gatewaySchema.mqtts,
    failover: gatewaySchema.failover,
    limits: gatewaySchema.limits,
    heartbeat: gatewaySchema.heartbeat,
    auth: gatewaySchema.auth,
  },
};

export type Config = ConfigOf<typeof schema>;

/** Checks what the schema cannot express; throws a ConfigError naming the key. */
export function validate(c: Config): Config {
  if (c.ha.mode === 'replicated' && !/^[^\s:/]+$/.test(c.node.hostname)) {
    throw new ConfigError('node.hostname', `expected a host name or IP address, got '${c.node.hostname}'`);
  }
  if (!c.zk.path.startsWith('/') || (c.zk.path.length > 1 && c.zk.path.endsWith('/'))) {
    throw new ConfigError('zk.path', `expected an absolute ZooKeeper path like /hawser, got '${c.zk.path}'`);
  }
  for (const a of c.coordinators) {
    if (!/^[^\s:]+:\d+$/.test(a)) throw new ConfigError('coordinators', `expected host:port entries, got '${a}'`);
  }
  if (!/^\/queue\/.+/.test(c.broker.deadLetterQueue)) {
    throw new ConfigError('broker.deadLetterQueue', `expected a /queue/<name> destination, got '${c.broker.deadLetterQueue}'`);
  }
  if (c.gateway.enabled && c.ha.mode === 'replicated' && c.coordinators.length === 0) {
    throw new ConfigError('coordinators', 'the embedded gateway (gateway.enabled) of a replicated store follows the group\'s master through the coordinators\' topology: list them (host:port,...)');
  }
  if (!c.node.dataDir) c.node.dataDir = join('data', c.node.id);
  return c;
}

/** RocksDB write option for a sync mode. Standalone: every mode's quorum is this node. */
export function fsyncFor(sync: Config['sync']): boolean {
  return sync.endsWith('_disk');
}
