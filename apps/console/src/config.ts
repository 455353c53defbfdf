// Options of the console service (apps/console/README.md lists them with their meaning).
import { hostname } from 'node:os';
import { bool, ConfigError, int, list, port, str, type ConfigOf } from '@hawser/config';
import { tlsSchema } from '@hawser/proto';

export const schema = {
  console: {
    id: str(hostname(), 'this console\'s id (logs, metrics)', { allowEmpty: false }),
  },
  http: {
    host: str('127.0.0.1', 'address the console listens on (its pages, API, /metrics, /healthz, /readyz)'),
    port: port(8161, 'port of the console (ActiveMQ\'s web console port; 0: pick a free one)'),
  },
  coordinators: list([], 'coordinator gRPC addresses (host:port,...): the topology comes from their Topology.Watch'),
  stores: list([], 'without coordinators: stores to show, group=host:port,... (each is asked Admin.Status; a standalone store is its group)'),
  poll: {
    intervalMs: int(1000, 'how often the masters\' Admin.Destinations are read (ms): the destination table and its rates', 100, 600_000),
    scrapeMs: int(2000, 'how often the services\' /metrics are scraped (ms): health, gateway connections, bridge rates, commit latency', 200, 600_000),
    historySeconds: int(600, 'how many seconds of chart history are kept in memory (ring buffers)', 10, 86_400),
    timeoutMs: int(3000, 'deadline of each gRPC call and /metrics scrape (ms)', 100, 60_000),
  },
  auth: {
    usersFile: str('', 'users file (login=scrypt hash, `hawser passwd`): when set, the console asks for a login; empty: no login, everyone who reaches the console may act'),
    groupsFile: str('', 'groups file (group=login,login,...): what the authorization map grants'),
    sessionTtlMs: int(8 * 3600_000, 'a login lasts this long without activity (ms)', 60_000, 30 * 24 * 3600_000),
    maxFailures: int(5, 'failed logins allowed per remote address within auth.failureWindowMs', 1, 1_000_000),
    failureWindowMs: int(60_000, 'window of auth.maxFailures (ms)', 1_000, 86_400_000),
    secureCookie: bool(false, 'mark the session cookie Secure (set when a TLS-terminating proxy serves the console over https)'),
  },
  authorization: {
    file: str('', 'the stores\' authorization map (kind pattern read write admin): a user acts on a destination only with its `admin` permission; empty with auth.usersFile: every logged-in user may act'),
  },
  // Mutual TLS of the console's calls to coordinators and stores: an admin-role certificate
  // (`hawser certs ... --admins console`), docs/security.md.
  tls: tlsSchema,
};

export type Config = ConfigOf<typeof schema>;

/** Parses `stores` (group=host:port); throws a ConfigError naming the key. */
export function parseStores(entries: readonly string[]): Array<{ group: string; address: string }> {
  return entries.map((e) => {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+:\d+)$/.exec(e.trim());
    if (!m) throw new ConfigError('stores', `'${e}' is not group=host:port`);
    return { group: m[1]!, address: m[2]! };
  });
}

/** Checks what the schema cannot express. */
export function validate(c: Config): void {
  if (c.coordinators.length === 0 && c.stores.length === 0) {
    throw new ConfigError('coordinators', 'give the coordinators (host:port,...) or, without coordinators, the stores (--stores group=host:port,...)');
  }
  parseStores(c.stores);
  if (c.auth.groupsFile && !c.auth.usersFile) throw new ConfigError('auth.groupsFile', 'a groups file needs a users file (auth.usersFile)');
  if (c.authorization.file && !c.auth.usersFile) {
    throw new ConfigError('authorization.file', 'the authorization map decides what logged-in users may do: set auth.usersFile too (without it nobody logs in and everyone may act)');
  }
}
