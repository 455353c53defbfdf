// hawser-gateway: accepts STOMP 1.0/1.1/1.2 clients over TCP and WebSocket and maps each
// connection to one Broker.Session stream on the store. See apps/gateway/README.md.
import { runService } from '@hawser/config';
import { createLogger, onShutdown } from '@hawser/observability';
import { schema } from './config';
import { startGateway } from './gateway';

runService('hawser-gateway', schema, async (config) => {
  const log = createLogger({ service: 'gateway', node: config.gateway.id });
  const gateway = await startGateway(config, { log });
  onShutdown(log, () => gateway.stop());
});
