#!/usr/bin/env node
// hawser-bridge: duplex, demand-driven forwarding between groups (ActiveMQ's network
// connector). See apps/bridge/README.md.
import { runService } from '@hawser/config';
import { onShutdown } from '@hawser/observability';
import { loadTls, useTls } from '@hawser/proto';
import { useZkAuth } from '@hawser/zk';
import { schema } from './config';
import { Bridge } from './bridge';

runService('hawser-bridge', schema, async (config) => {
  useTls(loadTls(config.tls));
  useZkAuth(config.zk.auth, config.zk.path);
  const bridge = new Bridge(config);
  onShutdown(bridge.log, () => bridge.stop());
  await bridge.start();
});
