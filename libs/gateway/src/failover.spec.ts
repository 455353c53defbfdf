// Session failover: the gateway in-process in front of two FAKE stores (A, B) and a FAKE
// coordinator whose Topology.Watch the test drives. Raw STOMP over real TCP on 127.0.0.1.
// Run twice: as the separate gateway (both stores over gRPC), and as the gateway embedded in
// A's node (A in-process, B over gRPC: the session leaves the node and comes back).
import { test, describe, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway, type Gateway } from './gateway';
import { FakeBroker, FakeCoordinator, RawClient, raw, checkFor } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

interface Rig { a: FakeBroker; b: FakeBroker; coord: FakeCoordinator; gw: Gateway; clients: RawClient[]; extra: FakeCoordinator[] }
let rig: Rig | undefined;
/** gRPC: a separate gateway. in-process: the gateway lives in store A's node (home 2), B is another node. */
let home: 'gRPC' | 'in-process' = 'gRPC';

async function setup(opts: { coordinators?: FakeCoordinator[]; maxWaitMs?: number; masterA?: boolean; ackWaitMs?: number } = {}): Promise<Rig> {
  const a = await new FakeBroker().start();
  const b = await new FakeBroker().start();
  const coord = await new FakeCoordinator().start();
  const extra = opts.coordinators ?? [];
  if (opts.masterA !== false) coord.setMaster({ id: 'A', address: a.address, epoch: 1 });
  const { config } = loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-fo', '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', '--heartbeat.send', '0', '--heartbeat.expect', '0',
      '--coordinators', [coord, ...extra].map((c) => c.address).join(','), '--group', 'g1',
      '--failover.maxWaitMs', String(opts.maxWaitMs ?? 3_000), '--failover.resendTimeoutMs', '1000', ...(opts.ackWaitMs ? ['--failover.ackWaitMs', String(opts.ackWaitMs)] : [])],
  });
  const gw = await startGateway(config, { log: quiet, ...(home === 'in-process' ? { local: a.local } : {}) });
  rig = { a, b, coord, gw, clients: [], extra };
  // Clients connected before the first snapshot would be CONNECTED without a master: wait for it.
  if (opts.masterA !== false) await checkFor('the gateway to learn the master', () => gw.source.master?.address === a.address);
  return rig;
}

afterEach(async () => {
  if (!rig) return;
  for (const c of rig.clients) c.close();
  await rig.gw.stop();
  await Promise.all([rig.a.stop(), rig.b.stop(), rig.coord.stop(), ...rig.extra.map((c) => c.stop())]);
  rig = undefined;
});

async function client(r: Rig): Promise<RawClient> {
  const c = await RawClient.tcp(r.gw.stompPort);
  r.clients.push(c);
  await c.connect();
  return c;
}

/** A session reaches a master with its first request (an idle connection costs the stores nothing): make one. */
async function opened(c: RawClient): Promise<void> {
  c.write(raw('SUBSCRIBE', { id: 'opener', destination: '/queue/opener', receipt: 'opened' }));
  assert.equal((await c.expect('RECEIPT')).headers['receipt-id'], 'opened');
}

async function metric(r: Rig, name: string): Promise<number> {
  const m = await r.gw.registry.getSingleMetric(name)?.get();
  return m?.values.reduce((s, v) => s + v.value, 0) ?? NaN;
}

/** Frames received so far that are `command`, by a header. */
function seen(c: RawClient, command: string, header: string): string[] {
  return c.frames.filter((f) => f.command === command).map((f) => f.headers[header]!);
}

for (const h of ['gRPC', 'in-process'] as const) {
  describe(`session failover, sessions over ${h}`, { timeout: 20_000 }, () => {
    before(() => { home = h; });
    test('master moves to B: the socket stays open, B gets the re-subscribe and the resends with the same ids, receipts and messages flow', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's1', destination: '/queue/f', ack: 'client-individual', selector: "color = 'red'", 'activemq.subscriptionName': 'dn', receipt: 'sub-1' }));
      await checkFor('the subscribe receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('sub-1'));
      c.write(raw('SEND', { destination: '/queue/f', 'message-id': 'm-1', receipt: 'r-1' }, 'one'));
      await checkFor('r-1 and m-1 from A', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-1') && seen(c, 'MESSAGE', 'message-id').includes('m-1'));
      const m1FromA = c.frames.find((f) => f.command === 'MESSAGE' && f.headers['message-id'] === 'm-1')!;

      // A stops committing: these two have no receipt when it dies.
      r.a.holdSends = true;
      c.write(raw('SEND', { destination: '/queue/f', 'message-id': 'm-2', receipt: 'r-2' }, 'two') + raw('SEND', { destination: '/queue/f', 'message-id': 'm-3' }, 'three'));
      await checkFor('A saw m-2 and m-3', () => r.a.requests('send').filter((s) => s.send.message.id !== 'm-1').length === 2);

      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      r.a.killSessions();

      await checkFor('B gets the open, the subscription and both resends', () => r.b.requests('send').length === 2, 5_000);
      const sub = r.b.requests('subscribe')[0]!.subscribe;
      assert.deepEqual(
        { id: sub.subscriptionId, destination: sub.destination, ackMode: sub.ackMode, selector: sub.selector, durableName: sub.durableName },
        { id: 's1', destination: '/queue/f', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', selector: "color = 'red'", durableName: 'dn' });
      assert.deepEqual(r.b.requests('send').map((s) => s.send.message.id), ['m-2', 'm-3'], 'resent with the same message ids, in order');
      assert.equal(r.b.requests('open')[0]!.open.gateway, 'gw-fo');
      // The batch B got: open first, then the subscription, then the sends.
      assert.deepEqual(r.b.batches.flatMap((x) => x.items).slice(0, 4).map((i) => i.kind), ['open', 'subscribe', 'send', 'send']);

      await checkFor('r-2 and the messages from B', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-2')
        && ['m-2', 'm-3'].every((id) => seen(c, 'MESSAGE', 'message-id').includes(id)));
      assert.equal(c.closed, false, 'the client connection stayed open');
      assert.equal(c.frames.some((f) => f.command === 'ERROR'), false);
      // Each MESSAGE has its own ack id: B's tags start again at 1 but the client never sees a repeat.
      const ackIds = c.frames.filter((f) => f.command === 'MESSAGE').map((f) => f.headers.ack);
      assert.equal(new Set(ackIds).size, ackIds.length, `ack ids are unique: ${ackIds.join(',')}`);

      // ACK of A's delivery of m-1: not an error; m-1 has not come again yet, so the ACK cannot
      // take on B now and its RECEIPT waits (D2, docs/reliability.md) — a later SEND's comes first.
      c.write(raw('ACK', { id: m1FromA.headers.ack!, receipt: 'a-old' }) + raw('SEND', { destination: '/queue/other', 'message-id': 'o-1', receipt: 'r-o' }, 'o'));
      await checkFor('the later receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-o'));
      assert.equal(seen(c, 'RECEIPT', 'receipt-id').includes('a-old'), false, 'no RECEIPT for an ack that has not taken');
      assert.equal(r.b.requests('ack').length, 0, 'nothing of the old session reaches B');

      // B redelivers m-1: the held ACK settles it (B hears B's own tag), then the RECEIPT; the
      // client, which acked m-1 already, does not get it again.
      const messagesBefore = c.frames.filter((f) => f.command === 'MESSAGE').length;
      r.b.publish({ id: 'm-1', destination: '/queue/f' }, true);
      await checkFor('the old ack receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('a-old'));
      const bTag = r.b.sessions[0]!.nextTag - 1;
      assert.deepEqual(r.b.requests('ack').map((x) => x.ack.deliveryTag), [bTag]);
      assert.equal(c.frames.filter((f) => f.command === 'MESSAGE').length, messagesBefore, 'm-1 is not shown again');

      // Business as usual on B.
      c.write(raw('SEND', { destination: '/queue/f', 'message-id': 'm-4', receipt: 'r-4' }, 'four'));
      await checkFor('m-4 round trip on B', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-4') && seen(c, 'MESSAGE', 'message-id').includes('m-4'));
      assert.equal(await metric(r, 'hawser_gateway_sessions_moved_total'), 1);
      assert.ok(await metric(r, 'hawser_gateway_failovers_total') >= 1);
      assert.equal(await metric(r, 'hawser_gateway_master_changes_total'), 2, 'none -> A -> B');
    });

    test('an old-session ACK maps to the redelivery when it has arrived', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/m', ack: 'client', receipt: 's' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('s'));
      r.a.publish({ id: 'x-1', destination: '/queue/m' });
      const first = await checkFor('x-1 from A', () => c.frames.find((f) => f.command === 'MESSAGE'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B has the subscription', () => r.b.sessions[0]?.subs.has('s'));
      // B does not know A delivered it (redelivered=false); the gateway does, and says so.
      r.b.publish({ id: 'x-1', destination: '/queue/m' }, false);
      const again = await checkFor('the redelivery', () => c.frames.filter((f) => f.command === 'MESSAGE')[1]);
      assert.equal(again.headers.redelivered, 'true');
      assert.equal(again.headers['delivery-count'], '2');
      c.write(raw('ACK', { id: first.headers.ack!, receipt: 'ack' }));
      await checkFor('ack at B', () => r.b.requests('ack').length === 1);
      assert.equal(r.b.requests('ack')[0]!.ack.deliveryTag, 1, "B's tag of its own delivery");
      await checkFor('receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('ack'));
      assert.equal(r.a.sessions[0]!.ended, true, 'the session on A was cancelled when the topology moved');
    });

    test('D2: an old-session ACK whose message does not come again gets ERROR ACK_NOT_CONFIRMED naming its receipt, never a RECEIPT', async () => {
      const r = await setup({ ackWaitMs: 400 });
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/d2', ack: 'client-individual', receipt: 's' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('s'));
      r.a.publish({ id: 'gone-1', destination: '/queue/d2' });
      const first = await checkFor('gone-1 from A', () => c.frames.find((f) => f.command === 'MESSAGE'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B has the subscription', () => r.b.sessions[0]?.subs.has('s'));
      // B gives gone-1 to another consumer: it never comes to this session.
      const t0 = Date.now();
      c.write(raw('ACK', { id: first.headers.ack!, receipt: 'a-gone' }));
      const err = await checkFor('the ERROR', () => c.frames.find((f) => f.command === 'ERROR'), 5_000);
      assert.ok(Date.now() - t0 >= 350, `held for failover.ackWaitMs first (${Date.now() - t0} ms)`);
      assert.equal(err.headers['receipt-id'], 'a-gone');
      assert.match(err.headers.message!, /^ACK of message gone-1 not confirmed: .*within 400 ms \(failover\.ackWaitMs\)/);
      assert.equal(seen(c, 'RECEIPT', 'receipt-id').includes('a-gone'), false);
      assert.equal(r.b.requests('ack').length, 0);
    });

    test('D2: an ACK in flight when the master went (no receipt yet) is in doubt: held, then settles the redelivery on B', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/d2b', ack: 'client-individual', receipt: 's' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('s'));
      r.a.publish({ id: 'd-1', destination: '/queue/d2b' });
      const first = await checkFor('d-1 from A', () => c.frames.find((f) => f.command === 'MESSAGE'));
      // A dies before it answers the ACK (the ACK waits for a master: A may or may not have applied it).
      r.coord.setMaster(undefined, '');
      r.a.killSessions();
      await checkFor('the gateway saw the loss', async () => (await metric(r, 'hawser_gateway_failovers_total')) === 1);
      c.write(raw('ACK', { id: first.headers.ack!, receipt: 'a-doubt' }));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B has the subscription', () => r.b.sessions[0]?.subs.has('s'));
      assert.equal(r.b.requests('ack').length, 0, 'the old tag means nothing to B: not replayed');
      c.write(raw('SEND', { destination: '/queue/other', 'message-id': 'o-2', receipt: 'r-o2' }, 'o'));
      await checkFor('a later receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-o2'));
      assert.equal(seen(c, 'RECEIPT', 'receipt-id').includes('a-doubt'), false, 'not receipted while in doubt');
      r.b.publish({ id: 'd-1', destination: '/queue/d2b' }, true);
      await checkFor('the receipt once B has the ack', () => seen(c, 'RECEIPT', 'receipt-id').includes('a-doubt'));
      assert.deepEqual(r.b.requests('ack').map((x) => x.ack.deliveryTag), [r.b.sessions[0]!.nextTag - 1]);
      assert.equal(c.frames.filter((f) => f.command === 'MESSAGE').length, 1, 'd-1 not shown again');
      assert.equal(c.frames.some((f) => f.command === 'ERROR'), false);
    });

    test('D2: a cumulative (ack:client) ACK of an old delivery that has not come again is refused at once, not receipted', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/d2c', ack: 'client', receipt: 's' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('s'));
      r.a.publish({ id: 'c-1', destination: '/queue/d2c' });
      const first = await checkFor('c-1 from A', () => c.frames.find((f) => f.command === 'MESSAGE'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B has the subscription', () => r.b.sessions[0]?.subs.has('s'));
      c.write(raw('ACK', { id: first.headers.ack!, receipt: 'a-cum' }));
      const err = await checkFor('the ERROR', () => c.frames.find((f) => f.command === 'ERROR'));
      assert.equal(err.headers['receipt-id'], 'a-cum');
      assert.match(err.headers.message!, /^ACK of message c-1 not confirmed/);
      assert.equal(seen(c, 'RECEIPT', 'receipt-id').includes('a-cum'), false);
    });

    test('frames sent while there is no master wait, then flow to the new master', async () => {
      const r = await setup();
      const c = await client(r);
      await opened(c);
      r.coord.setMaster(undefined, '');
      r.a.killSessions();
      await checkFor('the gateway saw the loss', async () => (await metric(r, 'hawser_gateway_failovers_total')) === 1);
      c.write(raw('SEND', { destination: '/queue/w', 'message-id': 'w-1', receipt: 'rw-1' }, 'wait') + raw('BEGIN', { transaction: 't' })
        + raw('SEND', { destination: '/queue/w', 'message-id': 'w-2', transaction: 't' }, 'in tx') + raw('COMMIT', { transaction: 't', receipt: 'rc' }));
      await checkFor('four requests waiting', async () => (await metric(r, 'hawser_gateway_waiting_frames')) === 4);
      assert.deepEqual(seen(c, 'RECEIPT', 'receipt-id'), ['opened'], 'nothing answered while there is no master');
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('the receipts from B', () => ['rw-1', 'rc'].every((id) => seen(c, 'RECEIPT', 'receipt-id').includes(id)), 5_000);
      assert.deepEqual(r.b.batches.flatMap((x) => x.items).map((i) => i.kind), ['open', 'subscribe', 'send', 'begin', 'send', 'commit']);
      assert.equal(await metric(r, 'hawser_gateway_waiting_frames'), 0);
      assert.equal(c.closed, false);
    });

    test('an open transaction is replayed whole on the new master (BEGIN, its SENDs, then the COMMIT)', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('BEGIN', { transaction: 'tx' }) + raw('SEND', { destination: '/queue/t', 'message-id': 't-1', transaction: 'tx', receipt: 'ts' }, 'a'));
      await checkFor('tx send receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('ts'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B has the transaction', () => r.b.requests('send').length === 1);
      c.write(raw('COMMIT', { transaction: 'tx', receipt: 'tc' }));
      await checkFor('commit receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('tc'));
      assert.deepEqual(r.b.batches.flatMap((x) => x.items).map((i) => i.kind), ['open', 'begin', 'send', 'commit']);
      assert.equal(r.b.requests('send')[0]!.send.message.id, 't-1');
    });

    test('a transaction that acked messages is rolled back by a move: nothing of it reaches B, its COMMIT gets ERROR TRANSACTION_ROLLED_BACK', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's1', destination: '/queue/tx', ack: 'client-individual', receipt: 'sub' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('sub'));
      c.write(raw('SEND', { destination: '/queue/tx', 'message-id': 'in-1', receipt: 'r-in' }, 'input'));
      await checkFor('the input message', () => seen(c, 'MESSAGE', 'message-id').includes('in-1'));
      const ackId = c.frames.find((f) => f.command === 'MESSAGE')!.headers.ack!;
      // Consume-and-produce in one transaction, then the master moves before the COMMIT.
      c.write(raw('BEGIN', { transaction: 'tx' }) + raw('ACK', { id: ackId, transaction: 'tx' })
        + raw('SEND', { destination: '/queue/out', 'message-id': 'out-1', transaction: 'tx', receipt: 'r-out' }, 'output'));
      await checkFor('the tx send receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-out'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B gets the session', () => r.b.requests('subscribe').length === 1);
      await checkFor('the move is counted', async () => (await metric(r, 'hawser_gateway_transactions_rolled_back_total')) === 1);
      // Requests of the rolled-back transaction are answered by the gateway, not sent to B.
      c.write(raw('SEND', { destination: '/queue/out', 'message-id': 'out-2', transaction: 'tx', receipt: 'r-out-2' }, 'more'));
      await checkFor('its receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-out-2'));
      c.write(raw('COMMIT', { transaction: 'tx', receipt: 'r-commit' }));
      await checkFor('an ERROR', () => c.frames.some((f) => f.command === 'ERROR'), 3_000);
      const e = c.frames.find((f) => f.command === 'ERROR')!;
      assert.equal(e.headers['receipt-id'], 'r-commit');
      assert.match(e.headers.message!, /^transaction 'tx' was rolled back: the session moved to a new master/);
      assert.match(String(e.body), /^TRANSACTION_ROLLED_BACK: /);
      await c.waitClosed();
      const kinds = r.b.batches.flatMap((x) => x.items).map((i) => i.kind);
      assert.ok(!kinds.some((k) => ['begin', 'ack', 'commit'].includes(k)), `B heard nothing of the transaction: ${kinds.join(',')}`);
      assert.ok(!r.b.requests('send').some((x) => x.send.message.id.startsWith('out-')), 'no output of the transaction stored');
    });

    test('after a rolled-back transaction is aborted, a new one of the same name runs on B', async () => {
      const r = await setup();
      const c = await client(r);
      c.write(raw('SUBSCRIBE', { id: 's1', destination: '/queue/tx2', ack: 'client-individual', receipt: 'sub' }));
      await checkFor('subscribed', () => seen(c, 'RECEIPT', 'receipt-id').includes('sub'));
      c.write(raw('SEND', { destination: '/queue/tx2', 'message-id': 'in-2' }, 'input'));
      await checkFor('the input message', () => seen(c, 'MESSAGE', 'message-id').includes('in-2'));
      const ackId = c.frames.find((f) => f.command === 'MESSAGE')!.headers.ack!;
      c.write(raw('BEGIN', { transaction: 't' }) + raw('ACK', { id: ackId, transaction: 't', receipt: 'r-ack' }));
      await checkFor('the ack receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-ack'));
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('B gets the session', () => r.b.requests('subscribe').length === 1);
      c.write(raw('ABORT', { transaction: 't', receipt: 'r-abort' }));
      await checkFor('the abort receipt', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-abort'));
      c.write(raw('BEGIN', { transaction: 't' }) + raw('SEND', { destination: '/queue/o', 'message-id': 'o-1', transaction: 't' }, 'x') + raw('COMMIT', { transaction: 't', receipt: 'r-c' }));
      await checkFor('the commit receipt from B', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-c'));
      assert.deepEqual(r.b.batches.flatMap((x) => x.items).map((i) => i.kind).filter((k) => k !== 'open' && k !== 'subscribe'), ['begin', 'send', 'commit']);
      assert.equal(c.closed, false);
    });

    test('no master within failover.maxWaitMs: ERROR "no master for group g1: <the group message>"', async () => {
      const r = await setup({ maxWaitMs: 400 });
      const c = await client(r);
      await opened(c);
      r.coord.setMaster(undefined, 'Not enough cluster members: 1 of 3 alive, quorum is 2');
      r.a.killSessions();
      c.write(raw('SEND', { destination: '/queue/x', receipt: 'never' }, 'x'));
      const e = await c.expect('ERROR', 3_000);
      assert.equal(e.headers.message, 'no master for group g1: Not enough cluster members: 1 of 3 alive, quorum is 2');
      await c.waitClosed();
    });

    test('a CONNECT during an election is CONNECTED at once; a slave answering NOT_MASTER is not an error; frames wait for the master', async () => {
      const r = await setup({ masterA: false });
      r.a.notMaster = true;
      r.coord.setMaster({ id: 'A', address: r.a.address, epoch: 1 }); // stale: A is a slave
      await checkFor('the gateway to learn A', () => r.gw.source.master?.id === 'A');
      const c = await RawClient.tcp(r.gw.stompPort);
      r.clients.push(c);
      c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', 'heart-beat': '0,0' }));
      const f = await c.expect('CONNECTED', 5_000);
      assert.match(f.headers.session!, /^gw-fo:/, 'no store session yet: the connection id');
      assert.equal(r.a.requests('open').length, 0, 'an idle connection opens nothing on a store');
      c.write(raw('SEND', { destination: '/queue/e', receipt: 'e1' }, 'x'));
      await checkFor('A was asked and refused', () => r.a.requests('open').length >= 1);
      r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      const rc = await c.expect('RECEIPT', 5_000);
      assert.equal(rc.headers['receipt-id'], 'e1');
      assert.equal(r.b.requests('open').length, 1);
    });

    test('an ERROR before CONNECTED is not escaped (the client does not know the version yet)', async () => {
      const r = await setup({ masterA: false, maxWaitMs: 300 });
      r.coord.setMaster(undefined, 'Not enough cluster members: 1 of 3 alive, quorum is 2');
      const c = await RawClient.tcp(r.gw.stompPort);
      r.clients.push(c);
      c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', 'heart-beat': '0,0' }));
      await c.expect('CONNECTED');
      c.write(raw('SEND', { destination: '/queue/x' }, 'waits for a master'));
      const e = await c.expect('ERROR', 3_000);
      assert.equal(e.headers.message, 'no master for group g1: Not enough cluster members: 1 of 3 alive, quorum is 2');
    });

    test('the topology watch moves to the next coordinator when one dies', async () => {
      const second = await new FakeCoordinator().start();
      const r = await setup({ coordinators: [second] });
      const c = await client(r);
      await opened(c);
      second.setMaster({ id: 'A', address: r.a.address, epoch: 1 });
      await r.coord.stop();
      await checkFor('the gateway watches the second coordinator', () => second.watches.length === 1, 5_000);
      second.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
      await checkFor('the session moved to B', () => r.b.requests('open').length === 1, 5_000);
      c.write(raw('SEND', { destination: '/queue/z', receipt: 'z' }, 'z'));
      await checkFor('receipt from B', () => seen(c, 'RECEIPT', 'receipt-id').includes('z'));
    });
  });
}

test('embedded in A\'s node: in-process while A is master, over gRPC to B, in-process again when A is master again; nothing lost', { timeout: 20_000 }, async () => {
  home = 'in-process';
  const r = await setup();
  const c = await client(r);
  c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/e', receipt: 'sub' }));
  c.write(raw('SEND', { destination: '/queue/e', 'message-id': 'e-1', receipt: 'r-1' }, 'one'));
  await checkFor('e-1 round trip on A', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-1') && seen(c, 'MESSAGE', 'message-id').includes('e-1'));
  assert.deepEqual(r.a.sessions.map((s) => s.via), ['local'], 'A is this node: its session is in-process');

  r.coord.setMaster({ id: 'B', address: r.b.address, epoch: 2 });
  await checkFor('the session on B', () => r.b.requests('subscribe').length === 1);
  c.write(raw('SEND', { destination: '/queue/e', 'message-id': 'e-2', receipt: 'r-2' }, 'two'));
  await checkFor('e-2 round trip on B', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-2') && seen(c, 'MESSAGE', 'message-id').includes('e-2'));
  assert.deepEqual(r.b.sessions.map((s) => s.via), ['grpc'], 'B is another node: over gRPC');
  assert.equal(r.a.sessions[0]!.ended, true, 'the in-process session on A was ended by the move');

  r.coord.setMaster({ id: 'A', address: r.a.address, epoch: 3 });
  await checkFor('a second session on A', () => r.a.sessions.length === 2 && r.a.sessions[1]!.subs.has('s'));
  c.write(raw('SEND', { destination: '/queue/e', 'message-id': 'e-3', receipt: 'r-3' }, 'three'));
  await checkFor('e-3 round trip on A again', () => seen(c, 'RECEIPT', 'receipt-id').includes('r-3') && seen(c, 'MESSAGE', 'message-id').includes('e-3'));
  assert.equal(r.a.sessions[1]!.via, 'local', 'promoted again: back in-process');
  assert.equal(c.closed, false);
  assert.equal(c.frames.some((f) => f.command === 'ERROR'), false);
  assert.equal(await metric(r, 'hawser_gateway_sessions_moved_total'), 2);
});
