// hawser-bridge: duplex, demand-driven forwarding between groups.
// This milestone runs it as a bare service: it starts, serves /metrics, /healthz and
// /readyz, and stops cleanly on SIGTERM. Its real work lands with the replicated-groups
// and bridge milestones (see docs/roadmap.md).
import { runService } from '@hawser/config';
import { createLogger, createRegistry, startHttpEndpoint, onShutdown, prom } from '@hawser/observability';
import { schema } from './config';

runService('hawser-bridge', schema, async (config) => {
  const log = createLogger({ service: 'bridge', node: config.bridge.id });
  const registry = createRegistry('bridge', { instance: config.bridge.id });
  const up = new prom.Gauge({ name: 'hawser_bridge_up', help: '1 while this bridge runs', registers: [registry] });
  up.set(1);
  const http = await startHttpEndpoint({ host: config.http.host, port: config.http.port, registry });
  log.info({ httpPort: http.port, pid: process.pid }, 'bridge ready');
  onShutdown(log, async () => {
    up.set(0);
    await http.close();
  });
});
