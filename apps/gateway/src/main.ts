// hawser-gateway: the separate, stateless gateway service (home 1 of @hawser/gateway; home 2 is
// each store node). Accepts STOMP 1.0/1.1/1.2 clients over TCP and WebSocket and carries their
// sessions to the group's master over gRPC. See apps/gateway/README.md.
import { runService } from '@hawser/config';
import { createLogger, onShutdown } from '@hawser/observability';
import { schema, startGateway } from '@hawser/gateway';
import { loadTls, useTls } from '@hawser/proto';
import { useZkAuth } from '@hawser/zk';

runService('hawser-gateway', schema, async (config) => {
  useTls(loadTls(config.tls));
  useZkAuth(config.zk.auth, config.zk.path);
  const log = createLogger({ service: 'gateway', node: config.gateway.id });
  const gateway = await startGateway(config, { log });
  onShutdown(log, () => gateway.stop());
});
