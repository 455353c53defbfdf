// Options of the store service (apps/store/README.md lists them with their meaning).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { bool, ConfigError, int, oneOf, port, str, type ConfigOf } from '@hawser/config';

/** ActiveMQ's replication sync modes (replicatedLevelDB `sync`). */
export const SYNC_MODES = ['local_mem', 'local_disk', 'remote_mem', 'remote_disk', 'quorum_mem', 'quorum_disk'] as const;

export const schema = {
  group: str('default', 'group (ActiveMQ brokerName) this store belongs to', { allowEmpty: false }),
  node: {
    id: str(hostname(), 'this store\'s id within its group (logs, metrics, election)', { allowEmpty: false }),
    dataDir: str('', 'RocksDB directory (default ./data/<node.id>)'),
  },
  grpc: {
    host: str('127.0.0.1', 'address of the gRPC server (Broker and Admin services)'),
    port: port(61620, 'port of the gRPC server (0: pick a free one)'),
  },
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8171, 'port of /metrics, /healthz, /readyz (0: pick a free one)'),
  },
  sync: oneOf('quorum_mem', SYNC_MODES, 'when a persistent SEND is receipted: *_mem = written without fsync, *_disk = fsynced (standalone: quorum of one, this node)'),
  ha: {
    mode: oneOf('standalone', ['standalone', 'replicated', 'shared-lock'] as const, 'high-availability mode (only standalone in this milestone)'),
  },
  broker: {
    defaultPrefetch: int(1000, 'prefetch of a subscription that asks for 0', 1, 1_000_000),
    maximumRedeliveries: int(6, 'failed deliveries before the DLQ (ActiveMQ: the 7th failure moves it); -1 = never', -1, 1_000_000),
    deadLetterQueue: str('/queue/ActiveMQ.DLQ', 'dead-letter queue (a /queue/ destination)', { allowEmpty: false }),
    dedupWindow: int(100_000, 'message ids remembered for duplicate detection (persisted)', 1, 100_000_000),
    pageSize: int(1000, 'messages of each destination kept in memory; the rest are paged from disk', 1, 10_000_000),
    forcePersistent: bool(false, 'store every message as persistent, whatever the sender asked'),
  },
  journal: {
    maxBatch: int(1000, 'max journal entries per group commit (one RocksDB batch)', 1, 1_000_000),
    retention: int(100_000, 'journal entries kept after they are applied (replica catch-up)', 1, 1_000_000_000),
  },
  tickMs: int(100, 'period of the expiry tick (ms)', 1, 60_000),
};

export type Config = ConfigOf<typeof schema>;

/** Checks what the schema cannot express; throws a ConfigError naming the key. */
export function validate(c: Config): Config {
  if (c.ha.mode !== 'standalone') {
    throw new ConfigError('ha.mode', `'${c.ha.mode}' is not implemented yet (next milestone); use standalone`);
  }
  if (!/^\/queue\/.+/.test(c.broker.deadLetterQueue)) {
    throw new ConfigError('broker.deadLetterQueue', `expected a /queue/<name> destination, got '${c.broker.deadLetterQueue}'`);
  }
  if (!c.node.dataDir) c.node.dataDir = join('data', c.node.id);
  return c;
}

/** RocksDB write option for a sync mode. Standalone: every mode's quorum is this node. */
export function fsyncFor(sync: Config['sync']): boolean {
  return sync.endsWith('_disk');
}
