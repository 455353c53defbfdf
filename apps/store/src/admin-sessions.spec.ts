// Admin.Sessions on a real store over gRPC: every session the core holds, how it reached the
// store (Broker.Session, Broker.Sessions, in-process from the node's embedded gateway), the
// gateway and connection that opened it, and its deliveries in flight per subscription — the
// view that names a session kept after its client went (docs/reliability.md D8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { adminService, brokerService, CHANNEL_OPTIONS, grpc, type MuxEvents, type MuxRequests, type SessionEvent, type SessionsReply } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { adminCall as call, checkFor, TestSession, type AdminClient as Admin } from './testing';

test('Admin.Sessions: each session with its gateway, connection, way in, subscriptions and deliveries in flight; an ended one is gone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-admin-sessions-'));
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', join(dir, 'data'), '--grpc.port', '0'], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry: createRegistry('store') });
  await store.start();
  const address = `127.0.0.1:${store.grpcPort}`;
  const admin = new (adminService())(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Admin;
  const broker = new (brokerService())(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const producer = new TestSession(address);
  let mux: grpc.ClientDuplexStream<MuxRequests, MuxEvents> | undefined;
  try {
    await producer.open('producer');
    const ids = [1, 2, 3].map((i) => producer.send('/queue/q', `m${i}`));
    await producer.receipted(ids);

    // A separate gateway's session on Broker.Sessions, holding the three messages.
    mux = (broker as unknown as { Sessions(): grpc.ClientDuplexStream<MuxRequests, MuxEvents> }).Sessions();
    const muxEvents: SessionEvent[] = [];
    mux.on('data', (b: MuxEvents) => { for (const it of b.items ?? []) if (it.event) muxEvents.push(it.event); });
    mux.on('error', () => undefined);
    mux.write({ items: [
      { session: 7, request: { requestId: 0, kind: 'open', open: { connectionId: 'gw9:conn-42', clientId: 'ghost', login: '', gateway: 'gw9', network: false, groups: [] } } },
      { session: 7, request: { requestId: 1, kind: 'subscribe', subscribe: { subscriptionId: 'sub-1', destination: '/queue/q', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 20, selector: '', durableName: '', noLocal: false } } },
    ] } as unknown as MuxRequests);
    await checkFor('3 deliveries on the mux session', () => muxEvents.filter((e) => e.kind === 'delivery').length === 3);

    // The node's own embedded gateway: in-process.
    const local = store.local.openSession({ events: () => undefined, ended: () => undefined });
    local.requests([
      { requestId: 0, kind: 'open', open: { connectionId: 's1:conn-1', clientId: '', login: '', gateway: 's1', network: false, groups: [] } },
      { requestId: 1, kind: 'subscribe', subscribe: { subscriptionId: 't', destination: '/topic/t', ackMode: 'ACK_MODE_AUTO', prefetch: 0, selector: '', durableName: '', noLocal: false } },
    ] as never);

    const all = (await call<SessionsReply>(admin, 'Sessions', { destination: '' })).sessions;
    assert.deepEqual(all.map((s) => [s.connectionId, s.gateway, s.via]), [['test', 'test', 'session'], ['gw9:conn-42', 'gw9', 'sessions'], ['s1:conn-1', 's1', 'local']], 'oldest first');
    const ghost = all[1]!;
    assert.equal(ghost.clientId, 'ghost');
    assert.match(ghost.id, /^s1-\d+$/);
    assert.match(ghost.peer, /127\.0\.0\.1:\d+/, 'the gateway\'s address');
    assert.equal(all[2]!.peer, '', 'in-process');
    assert.equal(Number(ghost.inflight), 3);
    assert.equal(Number(ghost.openedAt) > 0, true);
    assert.equal(ghost.paused, false);
    assert.deepEqual(ghost.subscriptions.map((s) => [s.id, s.destination, s.queue, s.ackMode, Number(s.prefetch), Number(s.inflight), s.durable]),
      [['sub-1', '/queue/q', '/queue/q', 'client-individual', 20, 3, false]]);

    const onQ = (await call<SessionsReply>(admin, 'Sessions', { destination: '/queue/q' })).sessions;
    assert.deepEqual(onQ.map((s) => s.connectionId), ['gw9:conn-42'], 'by destination');

    // The gateway ends the session: it is gone, and what it held is waiting again.
    mux.write({ items: [{ session: 7, end: true }] } as unknown as MuxRequests);
    await checkFor('the session gone', async () => (await call<SessionsReply>(admin, 'Sessions', { destination: '/queue/q' })).sessions.length === 0);
    local.end();
    await checkFor('the local session gone', async () => (await call<SessionsReply>(admin, 'Sessions', { destination: '' })).sessions.length === 1);
  } finally {
    mux?.end();
    producer.close();
    broker.close();
    admin.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
