// ZooKeeper registration against a real private ZooKeeper server (tools/zookeeper launcher).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import { connect as zkConnect, type ZkClient } from '@hawser/zk';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway } from './gateway';
import { FakeBroker, checkFor } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });
let dir: string;
let zk: ZooKeeperServer;
let reader: ZkClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hawser-gw-zk-'));
  zk = await startZooKeeper({ dataDir: dir, tickTime: 250 });
  reader = await zkConnect(zk.connect, { sessionTimeoutMs: 1000 });
});

after(async () => {
  await reader?.close();
  await zk?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('zk.address set: ephemeral <zkPath>/gateways/<id> with GatewayInfo JSON, gone after stop', { timeout: 30_000 }, async () => {
  const broker = await new FakeBroker().start();
  const { config } = loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-zk', '--store.address', broker.address, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0',
      '--zk.address', zk.connect, '--zk.path', '/hawser-test', '--zk.sessionTimeout', '1000', '--group', 'g7'],
  });
  const gw = await startGateway(config, { log: quiet });
  try {
    await gw.registration!.registered;
    const node = await reader.getJson<Record<string, unknown>>('/hawser-test/gateways/gw-zk');
    assert.deepEqual(node.value, { id: 'gw-zk', group: 'g7', stompPort: gw.stompPort, wsPort: gw.wsPort, httpPort: gw.httpPort, pid: process.pid, host: '127.0.0.1' });
    assert.notEqual(node.stat.ephemeralOwner, '0', 'ephemeral');
  } finally {
    await gw.stop();
    await broker.stop();
  }
  await checkFor('the znode to go', async () => (await reader.exists('/hawser-test/gateways/gw-zk')) === null, 5_000);
});
