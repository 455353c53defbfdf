// ClientSession on its own, as a protocol adapter uses it (no STOMP): against two fake
// masters, A in-process (this node) and B over gRPC, with a master source the test moves.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@hawser/config';
import { createLogger, prom } from '@hawser/observability';
import { schema } from '../config';
import { GatewayMetrics } from '../metrics';
import { FakeBroker, checkFor } from '../testkit';
import { Channels } from './channels';
import { ClientSession, type ClientDelivery } from './client-session';
import type { MasterInfo, MasterSource } from './masters';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

/** A master source the test moves by hand. */
class Masters implements MasterSource {
  readonly failover = true;
  readonly group = 'g1';
  master: MasterInfo | undefined;
  private readonly fns = new Set<(m: MasterInfo | undefined) => void>();
  describe(): string { return this.master ? `master ${this.master.id}` : 'no master'; }
  onChange(fn: (m: MasterInfo | undefined) => void): () => void { this.fns.add(fn); return () => this.fns.delete(fn); }
  stop(): void {}
  set(m: MasterInfo | undefined): void { this.master = m; for (const fn of this.fns) fn(m); }
}

interface Rig { a: FakeBroker; b: FakeBroker; masters: Masters; session: ClientSession; seen: { opened: string[]; receipts: string[]; deliveries: ClientDelivery[]; errors: string[] }; channels: Channels }
let rig: Rig | undefined;

async function setup(): Promise<Rig> {
  const a = await new FakeBroker().start();
  const b = await new FakeBroker().start();
  const masters = new Masters();
  masters.master = { id: 'A', address: a.address, epoch: 1 };
  const config = loadConfig(schema, { env: {}, argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-cs'] }).config;
  const channels = new Channels(a.local); // this node is A
  const seen: Rig['seen'] = { opened: [], receipts: [], deliveries: [], errors: [] };
  const session = new ClientSession({ config, metrics: new GatewayMetrics(new prom.Registry()), channels, source: masters, gatewayId: 'gw-cs' }, quiet, {
    onOpened: (id) => seen.opened.push(id),
    onReceipt: (r) => seen.receipts.push(r),
    onDelivery: (d) => seen.deliveries.push(d),
    onRefused: (e) => seen.errors.push(e.code),
    onFatal: (e) => seen.errors.push(e.code),
    onBackpressure: () => undefined,
    onDrain: () => undefined,
  });
  rig = { a, b, masters, session, seen, channels };
  return rig;
}

afterEach(async () => {
  if (!rig) return;
  rig.session.end();
  rig.channels.close();
  await Promise.all([rig.a.stop(), rig.b.stop()]);
  rig = undefined;
});

test('an idle session reaches no master; its first request opens it there (in-process on this node)', async () => {
  const r = await setup();
  r.session.open('conn-1', 'client-1', { login: 'alice', groups: ['shop'] });
  assert.deepEqual(r.seen.opened, [''], 'opened at once, before any master is asked');
  await new Promise((res) => setImmediate(res));
  assert.equal(r.a.sessions.length, 0, 'nothing on the master yet');
  r.session.subscribe({ subscriptionId: 's', destination: '/queue/q', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 0, selector: '', durableName: '', noLocal: false, priority: 0 }, 'sub-1');
  await checkFor('the subscribe receipt', () => r.seen.receipts.includes('sub-1'));
  assert.deepEqual(r.a.sessions.map((s) => s.via), ['local']);
  const open = r.a.requests('open')[0]!.open;
  assert.deepEqual([open.connectionId, open.clientId, open.login, open.groups, open.gateway], ['conn-1', 'client-1', 'alice', ['shop'], 'gw-cs']);
});

test('close() of a session that never reached a master answers its receipt at once', async () => {
  const r = await setup();
  r.session.open('conn-2', '', { login: '', groups: [] });
  r.session.close('bye');
  assert.deepEqual(r.seen.receipts, ['bye']);
  assert.equal(r.a.sessions.length, 0);
});

test('tags stay unique across masters; an ack of the old master\'s delivery settles its redelivery on the new one', async () => {
  const r = await setup();
  r.session.open('conn-3', '', { login: '', groups: [] });
  r.session.subscribe({ subscriptionId: 's', destination: '/queue/t', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 0, selector: '', durableName: '', noLocal: false, priority: 0 }, 'sub');
  await checkFor('subscribed on A', () => r.seen.receipts.includes('sub'));
  r.a.publish({ id: 'm-1', destination: '/queue/t' });
  const first = await checkFor('m-1 from A', () => r.seen.deliveries.find((d) => d.message.id === 'm-1'));
  assert.equal(first.tag, 1);
  assert.equal(r.session.holds(1), true);

  r.masters.set({ id: 'B', address: r.b.address, epoch: 2 });
  await checkFor('the session moved to B', () => r.b.requests('subscribe').length === 1);
  assert.equal(r.b.sessions[0]!.via, 'grpc');
  r.b.publish({ id: 'm-1', destination: '/queue/t' }); // B numbers its deliveries from 1 again
  const again = await checkFor('m-1 from B', () => r.seen.deliveries.find((d) => d.message.id === 'm-1' && d !== first));
  assert.ok(again.tag > first.tag, `B's delivery gets a tag the client never saw (${again.tag})`);
  assert.equal(again.redelivered, true, 'delivered before on A: marked redelivered');
  assert.deepEqual(r.session.tagsOf('m-1'), [again.tag, first.tag], 'the live delivery first');

  r.session.settle('ack', first.tag, '', 'acked');
  await checkFor('the ack receipt', () => r.seen.receipts.includes('acked'));
  assert.deepEqual(r.b.requests('ack').map((x) => x.ack.deliveryTag), [1], 'B hears its own tag for the redelivery');
  assert.equal(r.session.holds(first.tag), false, 'the old delivery is forgotten');
  // The client holds the redelivery too and acks it as well (a client-individual client acks
  // every message it gets): answered with its receipt, not an ERROR, and B hears nothing more.
  // (Found by the disk-failure e2e under load: "ACK for unknown message id" killed the consumer.)
  assert.equal(r.session.holds(again.tag), true);
  r.session.settle('ack', again.tag, '', 'acked-again');
  await checkFor('the second receipt', () => r.seen.receipts.includes('acked-again'));
  assert.deepEqual(r.b.requests('ack').map((x) => x.ack.deliveryTag), [1], 'no second ACK reaches B');
  assert.equal(r.session.holds(first.tag) || r.session.holds(again.tag), false, 'both forgotten now');
  assert.throws(() => r.session.settle('ack', first.tag, ''), /UNKNOWN|unknown delivery/);
  assert.deepEqual(r.seen.errors, []);
});

test('an ack of the old master\'s delivery made between the move and the new session\'s first event is held, not sent with the old tag (docs/reliability.md D10)', async () => {
  const r = await setup();
  r.session.open('conn-4', '', { login: '', groups: [] });
  r.session.subscribe({ subscriptionId: 's', destination: '/queue/u', ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 0, selector: '', durableName: '', noLocal: false, priority: 0 }, 'sub');
  await checkFor('subscribed on A', () => r.seen.receipts.includes('sub'));
  r.a.publish({ id: 'm-1', destination: '/queue/u' });
  const first = await checkFor('m-1 from A', () => r.seen.deliveries.find((d) => d.message.id === 'm-1'));
  // The link opens the session on B at once; nothing of B has reached this session yet. The
  // client's ACK of A's delivery (tag 1 on A) must not go to B as B's tag 1.
  r.masters.set({ id: 'B', address: r.b.address, epoch: 2 });
  r.session.settle('ack', first.tag, '', 'acked', true);
  await checkFor('the session moved to B', () => r.b.requests('subscribe').length === 1);
  r.b.publish({ id: 'other', destination: '/queue/u' }); // B's tag 1
  r.b.publish({ id: 'm-1', destination: '/queue/u' }, true); // B's tag 2: the redelivery
  await checkFor('the ack receipt', () => r.seen.receipts.includes('acked'));
  assert.deepEqual(r.b.requests('ack').map((x) => x.ack.deliveryTag), [2], 'B acks m-1 (its tag 2), not the message it numbered 1');
  assert.deepEqual(r.seen.deliveries.map((d) => d.message.id), ['m-1', 'other'], 'the acked message does not reach the client again');
  assert.deepEqual(r.seen.errors, []);
});

test('an adapter that throws on a store event ends its own client (INTERNAL), not the gateway', async () => {
  const r = await setup();
  let thrown = 0;
  (r.session as unknown as { events: { onDelivery: (d: ClientDelivery) => void } }).events.onDelivery = () => { thrown++; throw new Error('adapter bug'); };
  r.session.open('conn-x', '', { login: '', groups: [] });
  r.session.subscribe({ subscriptionId: 's', destination: '/queue/boom', ackMode: 'ACK_MODE_AUTO', prefetch: 0, selector: '', durableName: '', noLocal: false, priority: 0 }, 'sub');
  await checkFor('the subscribe receipt', () => r.seen.receipts.includes('sub'));
  r.a.publish({ id: 'm1', destination: '/queue/boom' });
  await checkFor('the client ended with INTERNAL', () => r.seen.errors.includes('INTERNAL'));
  assert.equal(thrown, 1);
});

