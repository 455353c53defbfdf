// Options of the bridge service (see the README's configuration section).
import { str, port, list, type ConfigOf } from '@hawser/config';
import { hostname } from 'node:os';

export const schema = {
  bridge: { id: str(hostname(), 'this bridge instance\'s id (logs, metrics, ZooKeeper)', { allowEmpty: false }) },
  zk: {
    address: str('127.0.0.1:2181', 'ZooKeeper connect string (host:port,...)'),
    path: str('/hawser', 'root znode of this Hawser cluster (ActiveMQ zkPath)'),
  },
  http: {
    host: str('127.0.0.1', 'address of the metrics/health HTTP endpoint'),
    port: port(8191, 'port of the metrics/health HTTP endpoint (0: pick a free one)'),
  },
  groups: list([], 'groups this bridge serves (empty: all)'),
};

export type Config = ConfigOf<typeof schema>;
