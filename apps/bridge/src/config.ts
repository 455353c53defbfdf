// Options of the bridge service (apps/bridge/README.md lists them with their meaning).
// Link options carry ActiveMQ's networkConnector names and defaults.
import { hostname } from 'node:os';
import { bool, ConfigError, int, list, port, str, type ConfigOf } from '@hawser/config';
import { GROUP_NAME_RE, Link, LinkConfigError } from '@hawser/network';
import { tlsSchema } from '@hawser/proto';
import { zkAuthField } from '@hawser/zk';
import { parseStores } from './masters';

export const schema = {
  bridge: {
    id: str(hostname(), 'this bridge process\'s id (logs, metrics, its lock znode)', { allowEmpty: false }),
    link: str('', 'the link\'s name: processes with the same name are active/standby (default: the groups joined by "-")'),
    login: str('bridge', 'who the bridge\'s sessions are on the stores (Open.login): the authorization map (authorization.file) checks its SENDs and SUBSCRIBEs like any client\'s'),
    groups: list(['bridges'], 'the groups of bridge.login: grant them read and write on the forwarded destinations in the stores\' authorization map'),
  },
  groups: list([], 'groups to link (at least two); every pair is linked'),
  coordinators: list([], 'coordinator gRPC addresses (host:port): masters come from Topology.Watch'),
  stores: list([], 'static masters instead of coordinators: group=host:port,... (standalone groups, no failover)'),
  zk: {
    address: str('127.0.0.1:2181', 'ZooKeeper connect string for the active/standby lock (empty: no lock, this process is active)'),
    path: str('/hawser', 'ZooKeeper root path (zkPath)', { allowEmpty: false }),
    sessionTimeout: int(4000, 'ZooKeeper session timeout (ms): how soon a standby takes over from a dead bridge', 100, 600_000),
    auth: zkAuthField,
  },
  // Mutual TLS of the bridge's calls to stores (Broker.Session, Admin.Destinations) and coordinators (docs/security.md).
  tls: tlsSchema,
  duplex: bool(true, 'forward both ways between every pair (false: only from an earlier-listed group to a later one)'),
  networkTTL: int(1, 'hops a message may make across the network (ActiveMQ networkTTL); meshes and lines set more', 1, 64),
  dynamicOnly: bool(false, 'topic subscriptions follow live demand only (true), or stay once made, across restarts (false)'),
  staticallyIncludedDestinations: list([], 'destinations forwarded without demand (/queue/x, /topic/y, wildcards * and >)'),
  excludedDestinations: list([], 'destinations never forwarded (wildcards * and >); exclusion wins'),
  conduitSubscriptions: bool(true, 'one bridge subscription per destination, whatever the number of remote consumers (false: queue prefetch scales with them)'),
  decreaseNetworkConsumerPriority: bool(true, 'bridge subscriptions have priority -1: local consumers are served first'),
  replayWhenNoConsumers: bool(true, 'a queue message waiting where nobody consumes it may move toward consumers even into a group it left / beyond networkTTL (stranded messages)'),
  prefetch: int(100, 'unacked deliveries per bridge subscription (bounds in-flight forwards)', 1, 100_000),
  demandPollMs: int(250, 'how often each master\'s Admin.Destinations is polled for demand (ms)', 10, 600_000),
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8191, 'port of /metrics, /healthz, /readyz, /status (0: pick a free one)'),
  },
};

export type Config = ConfigOf<typeof schema>;

/** Checks what the schema cannot express; returns the link rules. Throws a ConfigError naming the key. */
export function validate(config: Config): { link: Link; linkName: string; stores: Record<string, string> } {
  const groups = config.groups;
  for (const g of groups) if (!GROUP_NAME_RE.test(g)) throw new ConfigError('groups', `group name '${g}' must match ${GROUP_NAME_RE} (it travels in the hawser-visited header)`);
  let stores: Record<string, string> = {};
  try { stores = parseStores(config.stores); } catch (e) { throw new ConfigError('stores', (e as Error).message); }
  if (config.stores.length > 0) {
    const missing = groups.filter((g) => !stores[g]);
    if (missing.length) throw new ConfigError('stores', `no address for group(s) ${missing.join(', ')}: give group=host:port for every group`);
  } else if (config.coordinators.length === 0) {
    throw new ConfigError('coordinators', 'give the coordinators (host:port,...) or static store addresses (--stores g1=host:port,g2=host:port)');
  }
  const linkName = config.bridge.link || groups.join('-');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(linkName)) throw new ConfigError('bridge.link', `'${linkName}' must be letters, digits, '_', '.', '-' (it names a znode and a client id)`);
  try {
    const link = new Link({
      link: linkName,
      groups,
      duplex: config.duplex,
      networkTTL: config.networkTTL,
      dynamicOnly: config.dynamicOnly,
      staticallyIncludedDestinations: config.staticallyIncludedDestinations,
      excludedDestinations: config.excludedDestinations,
      conduitSubscriptions: config.conduitSubscriptions,
      decreaseNetworkConsumerPriority: config.decreaseNetworkConsumerPriority,
      replayWhenNoConsumers: config.replayWhenNoConsumers,
    });
    return { link, linkName, stores };
  } catch (e) {
    if (e instanceof LinkConfigError) {
      const key = /^(\w+):/.exec(e.message)?.[1] ?? (/destination filter/.test(e.message) ? 'excludedDestinations' : 'groups');
      throw new ConfigError(key, e.message.replace(/^\w+: /, ''), { cause: e });
    }
    throw e;
  }
}
