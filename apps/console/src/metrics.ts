// hawser_console_* metrics (docs/metrics.md names them).
import { prom } from '@hawser/observability';

export class ConsoleMetrics {
  readonly requests: prom.Counter<'route'>;
  readonly actions: prom.Counter<'action' | 'result'>;
  readonly logins: prom.Counter<'result'>;
  readonly streams: prom.Gauge;
  readonly watchConnected: prom.Gauge;

  constructor(registry: prom.Registry) {
    const registers = [registry];
    this.requests = new prom.Counter({ name: 'hawser_console_posts_total', help: 'state-changing API requests (login, logout, purge, send, move, delete), by route', labelNames: ['route'], registers });
    this.actions = new prom.Counter({ name: 'hawser_console_actions_total', help: 'admin actions (purge, send, move, delete) by result: ok, forbidden (the user lacks the admin permission)', labelNames: ['action', 'result'], registers });
    this.logins = new prom.Counter({ name: 'hawser_console_logins_total', help: 'login attempts: ok, failed, throttled', labelNames: ['result'], registers });
    this.streams = new prom.Gauge({ name: 'hawser_console_streams', help: 'open live streams (browser pages following the cluster)', registers });
    this.watchConnected = new prom.Gauge({ name: 'hawser_console_topology_connected', help: '1 while the console follows a coordinator\'s Topology.Watch (or, without coordinators, every configured store answered)', registers });
  }
}
