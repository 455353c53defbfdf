#!/usr/bin/env node
// hawser-bridge: duplex, demand-driven forwarding between groups (ActiveMQ's network
// connector). See apps/bridge/README.md.
import { runService } from '@hawser/config';
import { onShutdown } from '@hawser/observability';
import { schema } from './config';
import { Bridge } from './bridge';

runService('hawser-bridge', schema, async (config) => {
  const bridge = new Bridge(config);
  onShutdown(bridge.log, () => bridge.stop());
  await bridge.start();
});
