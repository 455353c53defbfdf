// hawser_bridge_* metrics (docs/metrics.md names them; labels: source/target groups, link).
import { prom } from '@hawser/observability';

export class BridgeMetrics {
  readonly forwarded: prom.Counter<'source' | 'target' | 'kind'>;
  readonly inflight: prom.Gauge;
  readonly forwardSeconds: prom.Histogram<'source' | 'target'>;
  readonly demand: prom.Gauge<'group' | 'destination'>;
  readonly linkState: prom.Gauge<'link'>;
  readonly lockHolder: prom.Gauge;
  readonly sessionUp: prom.Gauge<'group'>;
  readonly subscriptions: prom.Gauge<'source' | 'target'>;
  readonly held: prom.Counter<'source' | 'target' | 'reason'>;

  constructor(registry: prom.Registry) {
    const registers = [registry];
    this.forwarded = new prom.Counter({ name: 'hawser_bridge_forwarded_total', help: 'messages forwarded (target receipt received, source acked) per direction and kind', labelNames: ['source', 'target', 'kind'], registers });
    this.inflight = new prom.Gauge({ name: 'hawser_bridge_inflight', help: 'deliveries sent to a target and not yet receipted', registers });
    this.forwardSeconds = new prom.Histogram({ name: 'hawser_bridge_forward_seconds', help: 'time from a delivery in the source to the receipt of the target', labelNames: ['source', 'target'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.demand = new prom.Gauge({ name: 'hawser_bridge_demand', help: 'local consumers per group and destination, as last polled', labelNames: ['group', 'destination'], registers });
    this.linkState = new prom.Gauge({ name: 'hawser_bridge_link_state', help: 'link state: 0 down, 1 standby, 2 active', labelNames: ['link'], registers });
    this.lockHolder = new prom.Gauge({ name: 'hawser_bridge_lock_holder', help: '1 while this process holds the link lock (is the active bridge)', registers });
    this.sessionUp = new prom.Gauge({ name: 'hawser_bridge_session_up', help: '1 while the network session on the group master is open', labelNames: ['group'], registers });
    this.subscriptions = new prom.Gauge({ name: 'hawser_bridge_subscriptions', help: 'bridge subscriptions per direction', labelNames: ['source', 'target'], registers });
    this.held = new prom.Counter({ name: 'hawser_bridge_held_total', help: 'queue deliveries the bridge kept unacked because they may not be forwarded (visited/TTL) or the target refused them', labelNames: ['source', 'target', 'reason'], registers });
  }
}
