// In-process sessions (the embedded gateway on the master's own node, LocalBroker): a session
// the core ends itself (DISCONNECT's close, a fatal error) is forgotten by the core and counted
// out of hawser_store_sessions, as a gRPC session is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import type { SessionEvent, SessionRequest } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { checkFor } from './testing';

test('an in-process session closed by the client (close) or by a fatal error leaves no session behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-store-local-'));
  const registry = createRegistry('store');
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0'], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry });
  await store.start();
  const gauge = async () => (await registry.getSingleMetric('hawser_store_sessions')!.get()).values[0]?.value ?? 0;
  const coreSessions = () => (store as unknown as { core: { sessions: Map<string, unknown> } }).core.sessions.size;
  try {
    const open = (n: number): SessionRequest => ({ requestId: n, kind: 'open', open: { connectionId: `c${n}`, clientId: '', login: '', groups: [], gateway: 'gw' } } as unknown as SessionRequest);
    for (const last of [
      { requestId: 2, kind: 'close', close: {} },
      // The first request of a session must be `open`: a second one is refused, fatally.
      { requestId: 2, kind: 'subscribe', subscribe: { subscriptionId: 's', destination: 'no-such-kind', ackMode: 'ACK_MODE_AUTO', prefetch: 1, selector: '', durableName: '', noLocal: false, priority: 0 } },
    ] as unknown as SessionRequest[]) {
      const events: SessionEvent[] = [];
      let ended = false;
      const s = store.local.openSession({ events: (e) => events.push(...e), ended: () => { ended = true; } });
      s.requests([open(1), last]);
      await checkFor(`the core ends the session after ${last.kind}`, () => ended);
      await checkFor('no session counted', async () => (await gauge()) === 0);
      await checkFor('the core forgot it', () => coreSessions() === 0);
      s.end(); // the gateway's end, if it comes, changes nothing
      assert.equal(await gauge(), 0);
    }
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
