// D1 of docs/reliability.md, standalone: deliveries are not journaled, so a store that starts
// on its journal (after a crash, or any restart) marks every message it recovered as possibly
// delivered — the next delivery says redelivered with a delivery count of 2 — without counting
// it as a failed delivery toward broker.maximumRedeliveries. (The replicated case, a promoted
// master: replicated.spec.ts "D1".)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { schema, validate } from './config';
import { Store } from './store';
import { checkFor, TestSession } from './testing';

async function startStore(dir: string, extra: string[] = []): Promise<Store> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', ...extra], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry: createRegistry('store') });
  await store.start();
  return store;
}

const marks = (s: TestSession) => s.deliveries().map((d) => [d.message.body.toString(), d.redelivered, d.deliveryCount]);

test('a restarted store marks what it recovered; restarts never dead-letter; new messages are unmarked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-store-d1-'));
  // maximumRedeliveries 0: one failed delivery would dead-letter the message.
  const args = ['--broker.maximumRedeliveries', '0'];
  let store = await startStore(dir, args);
  try {
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    await p.receipted([p.send('/queue/d1', 'waiting', { id: 'ID:w' })]);
    p.close();
    // Restarts with nobody consuming (a clean stop with a consumer holding the message would
    // journal a failed delivery; a kill -9 would not: libs/broker recovered.spec.ts, chaos e2e).
    for (let round = 1; round <= 3; round++) {
      await store.stop();
      store = await startStore(dir, args);
    }
    const c = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/d1');
    await checkFor('delivered after 3 restarts', () => c.deliveries().length === 1);
    // Never delivered at all before: over-marked (docs/reliability.md D1), and not a failure: no DLQ.
    assert.deepEqual(marks(c), [['waiting', true, 2]]);
    const p2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p2.open();
    await p2.receipted([p2.send('/queue/d1-new', 'fresh', { id: 'ID:f' })]);
    const c2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c2.open();
    c2.subscribe('s', '/queue/d1-new');
    await checkFor('the new one', () => c2.deliveries().length === 1);
    assert.deepEqual(marks(c2), [['fresh', false, 1]]);
    p2.close();
    c2.close();
    c.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
