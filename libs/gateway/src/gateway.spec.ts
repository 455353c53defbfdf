// The gateway in-process against a fake broker, over gRPC and in-process: raw STOMP bytes over
// real TCP sockets and WebSockets on 127.0.0.1, every port picked by the OS.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway, type Gateway } from './gateway';
import { FakeBroker, RawClient, raw, checkFor } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

function configFor(store: string, extra: string[] = []) {
  return loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-test', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0',
      '--heartbeat.send', '200', '--heartbeat.expect', '200', '--limits.maxFrameSize', '65536', '--limits.maxHeaders', '50',
      '--limits.maxHeaderLength', '1024', ...extra],
  }).config;
}

const clients: RawClient[] = [];
async function tcp(gw: Gateway): Promise<RawClient> {
  const c = await RawClient.tcp(gw.stompPort);
  clients.push(c);
  return c;
}
async function ws(gw: Gateway, protocols?: string[]): Promise<RawClient> {
  const c = await RawClient.ws(gw.wsPort, protocols);
  clients.push(c);
  return c;
}

let broker: FakeBroker;
let gw: Gateway;
let witness: RawClient; // a connected client that must keep working whatever the others do
let witnessReceipts = 0;

async function witnessStillWorks(): Promise<void> {
  const id = `w-${++witnessReceipts}`;
  witness.write(raw('SEND', { destination: '/queue/witness', receipt: id }, 'still here'));
  const r = await witness.expect('RECEIPT');
  assert.equal(r.headers['receipt-id'], id);
}

// Both homes of the gateway: the separate service (sessions over gRPC to the master) and the
// gateway embedded in the master's node (sessions in-process, no gRPC).
for (const home of ['gRPC', 'in-process'] as const) describe(`home: sessions over ${home}`, () => {
  before(async () => {
    broker = await new FakeBroker().start();
    gw = await startGateway(configFor(broker.address), { log: quiet, ...(home === 'in-process' ? { local: broker.local } : {}) });
    witness = await tcp(gw);
    await witness.connect();
  });

  after(async () => {
    for (const c of clients) c.close();
    await gw.stop();
    await broker.stop();
  });

  describe('connect and version negotiation', () => {
    test('STOMP 1.0: no accept-version', async () => {
      const c = await tcp(gw);
      const f = await c.connect({ login: 'bob', 'client-id': 'cid-1' });
      assert.equal(f.headers.version, '1.0');
      assert.match(f.headers.server!, /^Hawser\//);
      assert.match(f.headers.session!, /^fake-/);
      assert.equal(f.headers['heart-beat'], undefined, 'STOMP 1.0 has no heart-beating');
      const open = broker.requests('open').find((o) => o.open.clientId === 'cid-1');
      assert.ok(open, 'the store saw the open');
      // No users configured: a login is not checked, so it is not believed — the session is anonymous.
      assert.deepEqual([open.open.login, open.open.groups], ['', ['anonymous']]);
      assert.equal(open.open.gateway, 'gw-test');
      assert.match(open.open.connectionId, /^gw-test:/);
    });

    test('STOMP 1.1 with heart-beat offers our intervals', async () => {
      const c = await tcp(gw);
      const f = await c.connect({ 'accept-version': '1.0,1.1', host: 'h', 'heart-beat': '0,0' });
      assert.equal(f.headers.version, '1.1');
      assert.equal(f.headers['heart-beat'], '200,200');
    });

    test('STOMP 1.2 via the STOMP command picks the highest', async () => {
      const c = await tcp(gw);
      c.write(raw('STOMP', { 'accept-version': '1.1,1.0,1.2', host: 'h' }));
      const f = await c.expect('CONNECTED');
      assert.equal(f.headers.version, '1.2');
    });

    test('no common version: ERROR and close', async () => {
      const c = await tcp(gw);
      c.write(raw('CONNECT', { 'accept-version': '2.0,3.1', host: 'h' }));
      const e = await c.expect('ERROR');
      assert.equal(e.headers.message, 'Supported protocol versions are 1.0,1.1,1.2');
      assert.equal(e.headers.version, '1.0,1.1,1.2');
      await c.waitClosed();
    });
  });

  describe('SEND', () => {
    test('SEND with receipt: headers mapped to the Message, RECEIPT back', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('SEND', {
        destination: '/queue/a', receipt: 'r-1', 'message-id': 'producer-42', persistent: 'true', priority: 7, expires: 1_900_000_000_000,
        'content-type': 'text/plain', 'reply-to': '/queue/replies', 'correlation-id': 'c-9', type: 'greeting', 'x-user': 'u',
        'content-length': 5,
      }, 'hello'));
      const r = await c.expect('RECEIPT');
      assert.equal(r.headers['receipt-id'], 'r-1');
      const sent = broker.requests('send').find((s) => s.send.message.id === 'producer-42');
      assert.ok(sent);
      assert.ok(sent.requestId > 0);
      const m = sent.send.message;
      assert.equal(m.destination, '/queue/a');
      assert.equal(m.persistent, true);
      assert.equal(m.priority, 7);
      assert.equal(m.expires, 1_900_000_000_000);
      assert.equal(m.body.toString(), 'hello');
      assert.equal(sent.send.transaction, '');
      assert.deepEqual(m.headers, { 'content-type': 'text/plain', 'reply-to': '/queue/replies', 'correlation-id': 'c-9', type: 'greeting', 'x-user': 'u' });
    });

    test('generated ids, defaults, transaction, and one batch per event-loop turn', async () => {
      const c = await tcp(gw);
      await c.connect();
      const before = broker.batches.length;
      c.write(raw('BEGIN', { transaction: 'tx1' }) + raw('SEND', { destination: '/queue/b', transaction: 'tx1' }, '1') +
        raw('SEND', { destination: '/queue/b', transaction: 'tx1' }, '2') + raw('COMMIT', { transaction: 'tx1', receipt: 'done' }));
      await c.expect('RECEIPT');
      const batches = broker.batches.slice(before).filter((b) => b.items.some((i) => i.kind === 'begin'));
      assert.equal(batches.length, 1);
      assert.deepEqual(batches[0]!.items.map((i) => i.kind), ['begin', 'send', 'send', 'commit']);
      const [, s1, s2] = batches[0]!.items as any[];
      assert.match(s1.send.message.id, /^gw-test:[^:]+:1$/);
      assert.match(s2.send.message.id, /^gw-test:[^:]+:2$/);
      assert.equal(s1.send.message.priority, 4);
      assert.equal(s1.send.message.persistent, false);
      assert.equal(s1.send.message.expires, 0);
      assert.equal(s1.send.transaction, 'tx1');
    });

    test('receipts on BEGIN/ABORT/SUBSCRIBE/UNSUBSCRIBE too', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('BEGIN', { transaction: 't', receipt: 'a' }) + raw('ABORT', { transaction: 't', receipt: 'b' }) +
        raw('SUBSCRIBE', { id: 's', destination: '/topic/x', receipt: 'c' }) + raw('UNSUBSCRIBE', { id: 's', receipt: 'd' }));
      const got = [];
      for (let i = 0; i < 4; i++) got.push((await c.expect('RECEIPT')).headers['receipt-id']);
      assert.deepEqual(got, ['a', 'b', 'c', 'd']);
    });
  });

  describe('SUBSCRIBE, MESSAGE and acks', () => {
    test('STOMP 1.2 MESSAGE headers; auto ack after the write', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('SUBSCRIBE', {
        id: 'sub-1', destination: '/queue/m', receipt: 's', 'activemq.prefetchSize': 10, selector: "type = 'x'",
        'activemq.subscriptionName': 'dur', 'activemq.noLocal': 'true', 'activemq.priority': 3,
      }));
      await c.expect('RECEIPT');
      const sub = broker.requests('subscribe').find((s) => s.subscribe.subscriptionId === 'sub-1')!;
      assert.deepEqual({ ...sub.subscribe }, {
        subscriptionId: 'sub-1', destination: '/queue/m', ackMode: 'ACK_MODE_AUTO', prefetch: 10, selector: "type = 'x'", durableName: 'dur', noLocal: true, priority: 3,
      });
      c.write(raw('SEND', { destination: '/queue/m', 'content-type': 'text/plain', 'x-a': 'line1\\nline2', priority: 9, expires: 1_900_000_000_000, persistent: 'true' }, 'body!'));
      const m = await c.expect('MESSAGE');
      assert.equal(m.body, 'body!');
      assert.equal(m.headers.destination, '/queue/m');
      assert.equal(m.headers.subscription, 'sub-1');
      assert.match(m.headers['message-id']!, /^gw-test:/);
      assert.equal(m.headers['content-length'], '5');
      assert.equal(m.headers['content-type'], 'text/plain');
      assert.equal(m.headers['x-a'], 'line1\nline2', 'escaped in 1.2');
      assert.equal(m.headers.persistent, 'true');
      assert.equal(m.headers.priority, '9');
      assert.equal(m.headers.expires, '1900000000000');
      assert.ok(Number(m.headers.timestamp) > 0);
      assert.equal(m.headers['delivery-count'], '1');
      assert.equal(m.headers.redelivered, undefined);
      const tag = Number(m.headers.ack);
      assert.ok(tag > 0);
      await checkFor('the auto ack', () => broker.requests('ack').some((a) => a.ack.deliveryTag === tag));
    });

    test('STOMP 1.2: ACK/NACK id = the ack header', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('SUBSCRIBE', { id: 's', destination: '/queue/ack12', ack: 'client-individual', receipt: 'r' }));
      await c.expect('RECEIPT');
      c.write(raw('SEND', { destination: '/queue/ack12' }, 'one') + raw('SEND', { destination: '/queue/ack12' }, 'two'));
      const m1 = await c.expect('MESSAGE');
      const m2 = await c.expect('MESSAGE');
      const acksBefore = broker.requests('ack').length;
      c.write(raw('ACK', { id: m1.headers.ack!, receipt: 'a1' }) + raw('NACK', { id: m2.headers.ack!, transaction: 'tx', receipt: 'n1' }));
      await c.expect('RECEIPT');
      await c.expect('RECEIPT');
      const acks = broker.requests('ack').slice(acksBefore);
      assert.deepEqual(acks.map((a) => a.ack.deliveryTag), [Number(m1.headers.ack)]);
      const nack = broker.requests('nack').find((n) => n.nack.deliveryTag === Number(m2.headers.ack) && n.nack.transaction === 'tx');
      assert.ok(nack);
      // Acked once: the same id again is unknown.
      c.write(raw('ACK', { id: m1.headers.ack! }));
      const e = await c.expect('ERROR');
      assert.equal(e.headers.message, `ACK for unknown message id ${m1.headers.ack}`);
      await c.waitClosed();
      await witnessStillWorks();
    });

    test('STOMP 1.1: ACK by message-id + subscription', async () => {
      const c = await tcp(gw);
      await c.connect({ 'accept-version': '1.1', host: 'h' });
      c.write(raw('SUBSCRIBE', { id: 's11', destination: '/queue/ack11', ack: 'client', receipt: 'r' }));
      await c.expect('RECEIPT');
      c.write(raw('SEND', { destination: '/queue/ack11', 'message-id': 'mid-11' }, 'x'));
      const m = await c.expect('MESSAGE');
      assert.equal(m.headers.ack, undefined, 'no ack header before 1.2');
      assert.equal(m.headers['message-id'], 'mid-11');
      c.write(raw('ACK', { 'message-id': 'mid-11', subscription: 's11', receipt: 'a' }));
      await c.expect('RECEIPT');
      const ack = broker.requests('ack').at(-1)!;
      const session = broker.sessions.find((s) => s.subs.has('s11'))!;
      assert.equal(ack.ack.deliveryTag, session.nextTag - 1);
    });

    test('STOMP 1.0: ACK by message-id; SUBSCRIBE without id uses the destination', async () => {
      const c = await tcp(gw);
      await c.connect({});
      c.write(raw('SUBSCRIBE', { destination: '/queue/ack10', ack: 'client', receipt: 'r' }));
      await c.expect('RECEIPT');
      assert.ok(broker.requests('subscribe').some((s) => s.subscribe.subscriptionId === '/queue/ack10' && s.subscribe.ackMode === 'ACK_MODE_CLIENT'));
      c.write(raw('SEND', { destination: '/queue/ack10', 'message-id': 'mid-10' }, 'x'));
      const m = await c.expect('MESSAGE');
      assert.equal(m.headers.subscription, '/queue/ack10');
      c.write(raw('ACK', { 'message-id': 'mid-10', receipt: 'a' }));
      await c.expect('RECEIPT');
      c.write(raw('ACK', { 'message-id': 'nope' }));
      const e = await c.expect('ERROR');
      assert.equal(e.headers.message, 'ACK for unknown message id nope');
      await c.waitClosed();
    });

    test('UNSUBSCRIBE with activemq.subscriptionName removes the durable subscription', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('SUBSCRIBE', { id: 'd1', destination: '/topic/t' }) + raw('UNSUBSCRIBE', { id: 'd1', 'activemq.subscriptionName': 'dur', receipt: 'u' }));
      await c.expect('RECEIPT');
      const u = broker.requests('unsubscribe').find((x) => x.unsubscribe.subscriptionId === 'd1')!;
      assert.equal(u.unsubscribe.removeDurable, true);
    });
  });

  describe('bad input: ERROR with a message, closed socket, the gateway carries on', () => {
    const big = 'x'.repeat(70_000);
    const cases: Array<{ name: string; connect: boolean; bytes: string; message: RegExp }> = [
      { name: 'malformed header line', connect: true, bytes: 'SEND\ndestination:/queue/a\nno-colon-here\n\nbody\0', message: /./ },
      { name: 'unknown command', connect: true, bytes: raw('FROBNICATE', { a: 'b' }), message: /unknown|FROBNICATE/i },
      { name: 'frame over maxFrameSize', connect: true, bytes: raw('SEND', { destination: '/queue/a' }, big), message: /65536|large|size/i },
      { name: 'too many headers', connect: true, bytes: raw('SEND', Object.fromEntries([['destination', '/queue/a'], ...Array.from({ length: 60 }, (_, i) => [`h${i}`, 'v'])])), message: /header/i },
      { name: 'header too long', connect: true, bytes: raw('SEND', { destination: '/queue/a', long: 'y'.repeat(2000) }), message: /header/i },
      { name: 'SEND without destination', connect: true, bytes: raw('SEND', {}, 'x'), message: /destination/ },
      { name: 'SUBSCRIBE without id in 1.2', connect: true, bytes: raw('SUBSCRIBE', { destination: '/queue/a' }), message: /\bid\b/ },
      { name: 'bad priority', connect: true, bytes: raw('SEND', { destination: '/queue/a', priority: 'high' }), message: /priority/ },
      { name: 'frame before CONNECT', connect: false, bytes: raw('SEND', { destination: '/queue/a' }, 'x'), message: /CONNECT/ },
      { name: 'second CONNECT', connect: true, bytes: raw('CONNECT', { 'accept-version': '1.2', host: 'h' }), message: /already connected/ },
      { name: 'ACK for an unknown id', connect: true, bytes: raw('ACK', { id: '999999' }), message: /^ACK for unknown message id 999999$/ },
      { name: 'bad heart-beat header', connect: false, bytes: raw('CONNECT', { 'accept-version': '1.2', 'heart-beat': 'soon' }), message: /heart-beat/ },
    ];
    for (const tc of cases) {
      test(tc.name, async () => {
        const c = await tcp(gw);
        if (tc.connect) await c.connect();
        c.write(tc.bytes);
        const e = await c.expect('ERROR');
        assert.match(e.headers.message ?? '', tc.message);
        assert.ok((e.headers.message ?? '').length > 0);
        await c.waitClosed();
        await witnessStillWorks();
      });
    }

    test('a store error answers the request: ERROR with receipt-id, then close', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('SEND', { destination: '/queue/reject', receipt: 'rj' }, 'x'));
      const e = await c.expect('ERROR');
      assert.equal(e.headers.message, 'destination /queue/reject is not allowed');
      assert.equal(e.headers['receipt-id'], 'rj');
      assert.match(e.body, /INVALID_DESTINATION/);
      await c.waitClosed();
      await witnessStillWorks();
    });

    test('the same over WebSocket', async () => {
      const c = await ws(gw);
      await c.connect();
      c.write(raw('SEND', {}, 'x'));
      const e = await c.expect('ERROR');
      assert.match(e.headers.message!, /destination/);
      await c.waitClosed();
      await witnessStillWorks();
    });
  });

  describe('heart-beats', () => {
    test('the gateway beats when idle', async () => {
      const c = await tcp(gw);
      await c.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '0,100' });
      await checkFor('two heart-beats', () => c.heartbeats >= 2, 2_000);
      assert.equal(c.closed, false);
    });

    test('a silent client is closed after 2x the interval; one that beats is not', async () => {
      const silent = await tcp(gw);
      const beating = await tcp(gw);
      await silent.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '100,0' });
      await beating.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '100,0' });
      const t = setInterval(() => beating.write('\n'), 100);
      const started = Date.now();
      try {
        // expect = max(200 ours, 100 theirs) = 200 ms; closed after 2x = 400 ms.
        await silent.waitClosed(3_000);
        assert.ok(Date.now() - started >= 350, 'not before the grace period');
        assert.equal(beating.closed, false);
      } finally {
        clearInterval(t);
      }
    });
  });

  describe('DISCONNECT', () => {
    test('with receipt: close request to the store, RECEIPT, then the socket closes', async () => {
      const c = await tcp(gw);
      await c.connect();
      c.write(raw('DISCONNECT', { receipt: 'bye' }));
      const r = await c.expect('RECEIPT');
      assert.equal(r.headers['receipt-id'], 'bye');
      await c.waitClosed();
      assert.ok(broker.requests('close').some((x) => x.requestId > 0));
    });
  });

  describe('WebSocket', () => {
    test('subprotocol negotiation picks the highest offered', async () => {
      assert.equal((await ws(gw, ['v10.stomp', 'v11.stomp', 'v12.stomp'])).protocol, 'v12.stomp');
      assert.equal((await ws(gw, ['v11.stomp', 'v10.stomp'])).protocol, 'v11.stomp');
      assert.equal((await ws(gw, ['v10.stomp'])).protocol, 'v10.stomp');
      assert.equal((await ws(gw, [])).protocol, '');
    });

    test('send, subscribe and receive over WebSocket', async () => {
      const c = await ws(gw);
      const f = await c.connect();
      assert.equal(f.headers.version, '1.2');
      c.write(raw('SUBSCRIBE', { id: 'w', destination: '/topic/ws', receipt: 's' }));
      await c.expect('RECEIPT');
      witness.write(raw('SEND', { destination: '/topic/ws', 'x-from': 'tcp' }, 'to ws'));
      const m = await c.expect('MESSAGE');
      assert.equal(m.body, 'to ws');
      assert.equal(m.headers['x-from'], 'tcp');
    });
  });

  describe('metrics', () => {
    test('/metrics lists the gateway metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
      for (const name of ['hawser_gateway_connections', 'hawser_gateway_connections_total', 'hawser_gateway_frames_in_total',
        'hawser_gateway_frames_out_total', 'hawser_gateway_bytes_in_total', 'hawser_gateway_bytes_out_total', 'hawser_gateway_errors_total']) {
        assert.match(text, new RegExp(`^${name}`, 'm'), name);
      }
      assert.match(text, /hawser_gateway_frames_in_total\{command="SEND"/);
      assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).status, 200);
    });
  });
});
