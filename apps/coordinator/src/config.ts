// Options of the coordinator service (see the README's configuration section).
import { str, int, port, list, ConfigError, type ConfigOf } from '@hawser/config';
import { hostname } from 'node:os';
import { tlsSchema } from '@hawser/proto';
import { zkAuthField } from '@hawser/zk';

export const schema = {
  coordinator: { id: str(hostname(), 'this coordinator instance\'s id (logs, metrics, ZooKeeper)', { allowEmpty: false }) },
  zk: {
    address: str('127.0.0.1:2181', 'ZooKeeper connect string (host:port,...)'),
    path: str('/hawser', 'root znode of this Hawser cluster (ActiveMQ zkPath)'),
    sessionTimeout: int(4000, 'ZooKeeper session timeout in ms (the server clamps it to 2..20 x its tickTime)', 500, 120_000),
    auth: zkAuthField,
  },
  grpc: {
    host: str('127.0.0.1', 'address the Topology gRPC service listens on'),
    port: port(61630, 'port of the Topology gRPC service (0: pick a free one)'),
    advertise: str('', 'host:port other coordinators and clients use to reach this one (default: grpc.host:<bound port>)'),
  },
  // Mutual TLS of the Topology service and of the calls to stores and other coordinators (docs/security.md).
  tls: tlsSchema,
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8181, 'port of the metrics/health HTTP endpoint (0: pick a free one)'),
  },
  election: {
    prepareTimeoutMs: int(1000, 'deadline of each Member.Prepare call during an election', 50, 60_000),
    prepareGraceMs: int(100, 'once a quorum of members has promised, how long the others\' answers are still waited for before deciding (an unreachable member no longer holds the election for prepareTimeoutMs)', 0, 60_000),
    assignTimeoutMs: int(1000, 'deadline of each Member.Assign call', 50, 60_000),
    retryMs: int(500, 'delay before retrying an election that failed (no quorum of promises, refused Assign)', 50, 60_000),
    defaultReplicas: int(3, 'group size assumed when no live member says it (members publish "replicas" in their znode)', 1, 99),
  },
  status: {
    intervalMs: int(500, 'how often every member\'s Admin.Status is polled for positions and lag', 100, 60_000),
  },
  groups: list([], 'groups this coordinator serves (empty: all)'),
};

export type Config = ConfigOf<typeof schema>;

export function validate(c: Config): void {
  if (!c.zk.path.startsWith('/') || (c.zk.path.length > 1 && c.zk.path.endsWith('/'))) {
    throw new ConfigError('zk.path', `expected an absolute ZooKeeper path like /hawser, got '${c.zk.path}'`);
  }
  if (!c.zk.address.trim()) throw new ConfigError('zk.address', 'expected a ZooKeeper connect string like 127.0.0.1:2181');
}
