// Guards and failures: maximumConnections (TCP and WebSocket), login, the store going away,
// the store not answering, shutdown; and the service process itself (ready line, SIGTERM).
// Limits per connection (issue 10): connections per address, subscriptions, transactions,
// pending receipts, message-id length, prefetch, the idle timeout and heart-beats down to 1 s.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway, type Gateway } from './gateway';
import { FakeBroker, RawClient, raw, checkFor } from './testkit';

const quiet = createLogger({ service: 'gateway-test', level: process.env.HAWSER_TEST_LOG ?? 'silent' });

function configFor(store: string, extra: string[] = []) {
  return loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--gateway.id', 'gw-limits', '--store.address', store, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', ...extra],
  }).config;
}

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function setup(extra: string[] = []): Promise<{ broker: FakeBroker; gw: Gateway }> {
  const broker = await new FakeBroker().start();
  const gw = await startGateway(configFor(broker.address, extra), { log: quiet });
  cleanups.push(() => broker.stop(), () => gw.stop());
  return { broker, gw };
}

async function client(p: Promise<RawClient>): Promise<RawClient> {
  const c = await p;
  cleanups.push(() => c.close());
  return c;
}

describe('maximumConnections', () => {
  test('the (N+1)th connection gets ERROR and is closed, TCP and WebSocket; a slot frees on close', async () => {
    const { gw } = await setup(['--limits.maximumConnections', '2']);
    const a = await client(RawClient.tcp(gw.stompPort));
    await a.connect();
    const b = await client(RawClient.ws(gw.wsPort));
    await b.connect();
    await checkFor('two connections', () => gw.connectionCount === 2);
    const c = await client(RawClient.tcp(gw.stompPort));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'maximum connections (2) reached');
    await c.waitClosed();
    const d = await client(RawClient.ws(gw.wsPort));
    assert.equal((await d.expect('ERROR')).headers.message, 'maximum connections (2) reached');
    await d.waitClosed();
    // the admitted ones still work
    a.write(raw('SEND', { destination: '/queue/x', receipt: 'r' }));
    await a.expect('RECEIPT');
    a.close();
    await checkFor('a slot to free', () => gw.connectionCount === 1);
    const f = await client(RawClient.tcp(gw.stompPort));
    await f.connect();
    const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
    for (const protocol of ['stomp', 'ws']) {
      assert.match(text, new RegExp(`hawser_gateway_connections_rejected_total\\{protocol="${protocol}",reason="MAX_CONNECTIONS"[^}]*\\} 1`));
    }
  });
});

describe('backpressure', () => {
  test('a client that stops reading pauses its deliveries; nothing is lost when it reads again', async () => {
    const { gw } = await setup(['--limits.writeBufferHigh', '1024']);
    const slow = await client(RawClient.tcp(gw.stompPort));
    await slow.connect();
    slow.write(raw('SUBSCRIBE', { id: 's', destination: '/topic/bp', receipt: 'r' }));
    await slow.expect('RECEIPT');
    const producer = await client(RawClient.tcp(gw.stompPort));
    await producer.connect();
    slow.pause();
    const body = 'b'.repeat(16 * 1024);
    const n = 300;
    for (let i = 0; i < n; i++) producer.write(raw('SEND', { destination: '/topic/bp', seq: i }, body));
    producer.write(raw('SEND', { destination: '/queue/other', receipt: 'all-sent' }));
    await producer.expect('RECEIPT', 10_000);
    await new Promise((r) => setTimeout(r, 200));
    slow.resume();
    await checkFor('every message', () => slow.frames.filter((f) => f.command === 'MESSAGE').length === n, 10_000);
    const seqs = slow.frames.filter((f) => f.command === 'MESSAGE').map((f) => Number(f.headers.seq));
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
  });
});

describe('connect timeout', () => {
  test('a connection that never sends CONNECT is closed after limits.connectTimeout', async () => {
    const { gw } = await setup(['--limits.connectTimeout', '200']);
    const c = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await c.expect('ERROR')).headers.message, 'no CONNECT frame within 200 ms');
    await c.waitClosed();
    await checkFor('the slot to free', () => gw.connectionCount === 0);
  });
});

describe('store failures', () => {
  test('the store stream fails: ERROR "broker unavailable: ..." and close', async () => {
    const { broker, gw } = await setup();
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    broker.killSessions();
    const e = await c.expect('ERROR');
    assert.match(e.headers.message!, /^broker unavailable: /);
    await c.waitClosed();
    const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
    assert.match(text, /hawser_gateway_store_stream_failures_total\{[^}]*\} 1/);
  });

  test('no store listening: CONNECT gets ERROR "broker unavailable: ..."', async () => {
    const port = await freePort();
    const gw = await startGateway(configFor(`127.0.0.1:${port}`), { log: quiet });
    cleanups.push(() => gw.stop());
    const c = await client(RawClient.tcp(gw.stompPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h' }));
    const e = await c.expect('ERROR', 10_000);
    assert.match(e.headers.message!, /^broker unavailable: /);
    await c.waitClosed();
  });

  test('the store does not answer the open within store.openTimeout', async () => {
    const { broker, gw } = await setup(['--store.openTimeout', '300']);
    broker.silent = true;
    const c = await client(RawClient.tcp(gw.stompPort));
    c.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h' }));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'broker unavailable: the store did not answer within 300 ms');
    await c.waitClosed();
  });
});

describe('shutdown', () => {
  test('stop(): clients get ERROR "server shutting down", streams end, listeners close', async () => {
    const broker = await new FakeBroker().start();
    cleanups.push(() => broker.stop());
    const gw = await startGateway(configFor(broker.address), { log: quiet });
    const a = await client(RawClient.tcp(gw.stompPort));
    await a.connect();
    const b = await client(RawClient.ws(gw.wsPort));
    await b.connect();
    await gw.stop();
    assert.equal((await a.expect('ERROR')).headers.message, 'server shutting down');
    assert.equal((await b.expect('ERROR')).headers.message, 'server shutting down');
    await a.waitClosed();
    await b.waitClosed();
    await checkFor('the store sessions to end', () => broker.sessions.every((s) => s.ended));
    await assert.rejects(RawClient.tcp(gw.stompPort));
  });
});

async function metricsText(gw: Gateway): Promise<string> {
  return (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
}

/** A metric's value in Prometheus text (0 when the series is absent). */
function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** CONNECT from a chosen loopback source address; resolves with the first frame's command. */
function connectFrom(port: number, localAddress: string): Promise<{ command: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: '127.0.0.1', localAddress }, () => s.write(raw('CONNECT', { 'accept-version': '1.2', host: 'h', 'heart-beat': '0,0' })));
    let buf = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.includes('\n')) resolve({ command: buf.slice(0, buf.indexOf('\n')), close: () => s.destroy() });
    });
    cleanups.push(() => s.destroy());
  });
}

describe('limits.maxConnectionsPerAddress', () => {
  test('the (N+1)th connection from one address gets ERROR naming the key, TCP and WebSocket; other addresses and freed slots still connect', async () => {
    const { gw } = await setup(['--limits.maxConnectionsPerAddress', '2', '--limits.maximumConnections', '10']);
    const a = await client(RawClient.tcp(gw.stompPort));
    await a.connect();
    const b = await client(RawClient.ws(gw.wsPort));
    await b.connect();
    const message = 'maximum connections from 127.0.0.1 (2) reached (limits.maxConnectionsPerAddress)';
    const c = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await c.expect('ERROR')).headers.message, message);
    await c.waitClosed();
    const d = await client(RawClient.ws(gw.wsPort));
    assert.equal((await d.expect('ERROR')).headers.message, message);
    await d.waitClosed();
    // Another address is not held back by 127.0.0.1's connections.
    const other = await connectFrom(gw.stompPort, '127.0.0.2');
    assert.equal(other.command, 'CONNECTED');
    a.close();
    await checkFor('a slot of 127.0.0.1 to free', () => gw.connectionCount === 2);
    const e = await client(RawClient.tcp(gw.stompPort));
    await e.connect();
    const text = await metricsText(gw);
    assert.equal(metricValue(text, 'hawser_gateway_connections_rejected_total', { protocol: 'stomp', reason: 'MAX_CONNECTIONS_PER_ADDRESS' }), 1);
    assert.equal(metricValue(text, 'hawser_gateway_connections_rejected_total', { protocol: 'ws', reason: 'MAX_CONNECTIONS_PER_ADDRESS' }), 1);
    assert.equal(metricValue(text, 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxConnectionsPerAddress' }), 2);
  });
});

describe('limits.maxSubscriptions', () => {
  test('a SUBSCRIBE beyond the cap gets ERROR naming the key; UNSUBSCRIBE frees a place', async () => {
    const { broker, gw } = await setup(['--limits.maxSubscriptions', '3']);
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    for (const id of ['s1', 's2', 's3']) c.write(raw('SUBSCRIBE', { id, destination: `/queue/${id}`, receipt: id }));
    for (let i = 0; i < 3; i++) await c.expect('RECEIPT');
    // Re-using a held id is no new subscription (the store judges the duplicate); a freed place is reusable.
    c.write(raw('UNSUBSCRIBE', { id: 's1', receipt: 'u1' }));
    await c.expect('RECEIPT');
    c.write(raw('SUBSCRIBE', { id: 's4', destination: '/queue/s4', receipt: 's4' }));
    await c.expect('RECEIPT');
    c.write(raw('SUBSCRIBE', { id: 's5', destination: '/queue/s5', receipt: 's5' }));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'too many subscriptions: this connection holds 3, the most allowed (limits.maxSubscriptions); UNSUBSCRIBE one first, or raise limits.maxSubscriptions');
    await c.waitClosed();
    assert.equal(broker.requests('subscribe').filter((r) => r.subscribe.subscriptionId === 's5').length, 0, 'the refused SUBSCRIBE never reached the store');
    const text = await metricsText(gw);
    assert.equal(metricValue(text, 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxSubscriptions' }), 1);
    assert.equal(metricValue(text, 'hawser_gateway_errors_total', { code: 'LIMIT_EXCEEDED' }), 1);
  });
});

describe('limits.maxTransactions', () => {
  test('a BEGIN beyond the open transactions cap gets ERROR naming the key; COMMIT and ABORT free places', async () => {
    const { gw } = await setup(['--limits.maxTransactions', '2']);
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    c.write(raw('BEGIN', { transaction: 't1' }) + raw('BEGIN', { transaction: 't2' }) + raw('COMMIT', { transaction: 't1' }) +
      raw('BEGIN', { transaction: 't3' }) + raw('ABORT', { transaction: 't2' }) + raw('BEGIN', { transaction: 't4', receipt: 'ok' }));
    await c.expect('RECEIPT');
    c.write(raw('BEGIN', { transaction: 't5' }));
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'too many open transactions: this connection has 2 open, the most allowed (limits.maxTransactions); COMMIT or ABORT one first, or raise limits.maxTransactions');
    await c.waitClosed();
    assert.equal(metricValue(await metricsText(gw), 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxTransactions' }), 1);
  });
});

describe('limits.maxPendingReceipts', () => {
  test('at the cap the gateway stops reading the client (no ERROR) and reads on once half the receipts came', async () => {
    const { broker, gw } = await setup(['--limits.maxPendingReceipts', '4']);
    broker.holdSends = true; // the store takes the SENDs and does not receipt them (yet)
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    let body = '';
    for (let i = 1; i <= 5; i++) body += raw('SEND', { destination: '/queue/r', receipt: `r${i}` }, `m${i}`);
    c.write(body);
    // Four pending: the fifth frame finds the cap, pauses the reading and still goes through.
    await checkFor('five SENDs at the store', () => broker.requests('send').length === 5);
    c.write(raw('SEND', { destination: '/queue/r', receipt: 'r6' }, 'm6'));
    await checkFor('the pause to be counted', async () => metricValue(await metricsText(gw), 'hawser_gateway_limit_pauses_total', { limit: 'limits.maxPendingReceipts' }) === 1);
    await new Promise((r) => setTimeout(r, 300)); // a frame that were read would reach the fake store within this
    assert.equal(broker.requests('send').length, 5, 'the sixth SEND is not read while 4+ receipts are pending');
    assert.equal(c.frames.length, 1, 'no ERROR: only CONNECTED so far');
    // The store receipts three: 2 left pending (half the cap) -> the gateway reads on.
    const session = broker.sessions.find((s) => !s.ended)!;
    const held = broker.requests('send').map((r) => r.requestId);
    session.write(held.slice(0, 3).map((requestId) => ({ kind: 'receipt', receipt: { requestId } })));
    await checkFor('the sixth SEND at the store', () => broker.requests('send').length === 6);
    for (let i = 1; i <= 3; i++) assert.equal((await c.expect('RECEIPT')).headers['receipt-id'], `r${i}`);
    assert.equal(c.closed, false);
  });
});

describe('limits.producerWindow', () => {
  test('at the window the store gets no more SENDs, also of frames in the same read; they follow in order once half are confirmed', async () => {
    const { broker, gw } = await setup(['--limits.producerWindow', '4']);
    broker.holdSends = true; // the store takes the SENDs and confirms none (yet)
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    // Twelve SENDs without receipts in ONE write: one read for the gateway.
    let body = '';
    for (let i = 1; i <= 12; i++) body += raw('SEND', { destination: '/queue/w' }, `m${i}`);
    c.write(body);
    await checkFor('the window at the store', () => broker.requests('send').length === 4);
    await new Promise((r) => setTimeout(r, 300)); // a frame that were handled would reach the fake store within this
    assert.equal(broker.requests('send').length, 4, 'the rest of the read waits behind the window');
    // Confirming two (half the window) lets the next ones through, in order, up to the window again.
    const session = broker.sessions.find((s) => !s.ended)!;
    session.write(broker.requests('send').slice(0, 2).map((r) => ({ kind: 'receipt', receipt: { requestId: r.requestId } })));
    await checkFor('two more at the store', () => broker.requests('send').length === 6);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(broker.requests('send').length, 6);
    // Confirm as they come: all twelve arrive, once, in order.
    let confirmed = 2;
    await checkFor('all twelve at the store', () => {
      const sends = broker.requests('send');
      if (sends.length > confirmed) {
        session.write(sends.slice(confirmed).map((r) => ({ kind: 'receipt', receipt: { requestId: r.requestId } })));
        confirmed = sends.length;
      }
      return sends.length === 12;
    });
    assert.deepEqual(broker.requests('send').map((r) => r.send.message.body.toString()), Array.from({ length: 12 }, (_, i) => `m${i + 1}`));
    assert.equal(c.closed, false);
  });

  test('a client held by the window is not closed for the silence that holding it makes (heartbeat.idleTimeout)', async () => {
    const { broker, gw } = await setup(['--limits.producerWindow', '2', '--heartbeat.idleTimeout', '300']);
    broker.holdSends = true;
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    c.write(raw('SEND', { destination: '/queue/h' }, 'a') + raw('SEND', { destination: '/queue/h' }, 'b') + raw('SEND', { destination: '/queue/h' }, 'c'));
    await checkFor('the window at the store', () => broker.requests('send').length === 2);
    await new Promise((r) => setTimeout(r, 1_000)); // three idle timeouts, all of them ours
    assert.equal(c.closed, false, 'not closed while the gateway does not read it');
    const session = broker.sessions.find((s) => !s.ended)!;
    session.write(broker.requests('send').map((r) => ({ kind: 'receipt', receipt: { requestId: r.requestId } })));
    await checkFor('the third SEND at the store', () => broker.requests('send').length === 3);
    // Read again: its own silence counts from here, and the idle timeout applies as before.
    const e = await c.expect('ERROR');
    assert.match(e.headers.message ?? '', /heartbeat.idleTimeout/);
  });
});

describe('limits.maxMessageIdLength', () => {
  test('a SEND whose message-id is longer (in UTF-8 bytes) gets ERROR naming the key; at the cap it passes', async () => {
    const { broker, gw } = await setup(['--limits.maxMessageIdLength', '16']);
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    c.write(raw('SEND', { destination: '/queue/m', 'message-id': 'x'.repeat(16), receipt: 'ok' }));
    await c.expect('RECEIPT');
    c.write(raw('SEND', { destination: '/queue/m', 'message-id': 'é'.repeat(9), receipt: 'no' })); // 9 characters, 18 bytes
    const e = await c.expect('ERROR');
    assert.equal(e.headers.message, 'message-id header too long: 18 bytes, the most allowed is 16 (limits.maxMessageIdLength); use a shorter id, or raise limits.maxMessageIdLength');
    await c.waitClosed();
    assert.deepEqual(broker.requests('send').map((r) => r.send.message.id), ['x'.repeat(16)]);
    assert.equal(metricValue(await metricsText(gw), 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxMessageIdLength' }), 1);
  });
});

describe('limits.maxPrefetch', () => {
  test('a larger activemq.prefetchSize is lowered to the cap, not refused; smaller ones and 0 pass as asked', async () => {
    const { broker, gw } = await setup(['--limits.maxPrefetch', '50']);
    const c = await client(RawClient.tcp(gw.stompPort));
    await c.connect();
    c.write(raw('SUBSCRIBE', { id: 'big', destination: '/queue/p', 'activemq.prefetchSize': 4294967295, receipt: 'a' }) +
      raw('SUBSCRIBE', { id: 'small', destination: '/queue/p', 'activemq.prefetchSize': 10, receipt: 'b' }) +
      raw('SUBSCRIBE', { id: 'default', destination: '/queue/p', receipt: 'c' }));
    for (let i = 0; i < 3; i++) await c.expect('RECEIPT');
    const prefetch = Object.fromEntries(broker.requests('subscribe').map((r) => [r.subscribe.subscriptionId, r.subscribe.prefetch]));
    assert.deepEqual(prefetch, { big: 50, small: 10, default: 0 });
  });
});

describe('heartbeat.idleTimeout', () => {
  test('a STOMP 1.0 client, and a 1.2 client declining heart-beats, get ERROR naming the key after the timeout of silence', async () => {
    const { gw } = await setup(['--heartbeat.idleTimeout', '300']);
    const v10 = await client(RawClient.tcp(gw.stompPort));
    await v10.connect({ 'accept-version': '1.0', host: 'h' });
    const declines = await client(RawClient.ws(gw.wsPort));
    await declines.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '0,0' });
    const started = Date.now();
    const message = 'no frame or heart-beat from the client for 300 ms (heartbeat.idleTimeout): send heart-beats (CONNECT heart-beat header) or raise heartbeat.idleTimeout';
    for (const c of [v10, declines]) {
      assert.equal((await c.expect('ERROR')).headers.message, message);
      await c.waitClosed();
    }
    assert.ok(Date.now() - started >= 250, 'not before the timeout');
    const text = await metricsText(gw);
    assert.equal(metricValue(text, 'hawser_gateway_limit_refusals_total', { limit: 'heartbeat.idleTimeout' }), 2);
    assert.equal(metricValue(text, 'hawser_gateway_errors_total', { code: 'IDLE_TIMEOUT' }), 2);
  });

  test('a client that sends something (an EOL) stays; one offering heart-beats slower than the timeout is still closed at it', async () => {
    const { gw } = await setup(['--heartbeat.idleTimeout', '300']);
    const talker = await client(RawClient.tcp(gw.stompPort));
    await talker.connect({ 'accept-version': '1.0', host: 'h' });
    const slow = await client(RawClient.tcp(gw.stompPort));
    await slow.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '60000,0' });
    const beat = setInterval(() => talker.write('\n'), 100);
    try {
      assert.match((await slow.expect('ERROR')).headers.message!, /\(heartbeat\.idleTimeout\)/);
      await slow.waitClosed();
      await new Promise((r) => setTimeout(r, 500)); // past the timeout for the talker too
      assert.equal(talker.closed, false);
      assert.equal(talker.frames.length, 1, 'only CONNECTED');
    } finally {
      clearInterval(beat);
    }
  });
});

describe('heart-beats down to heartbeat.min', () => {
  test('defaults (10 s offered, 1 s minimum): a client asking for 1 s beats gets them both ways; faster asks get 1 s, none get the offer', async () => {
    const { gw } = await setup();
    const fast = await client(RawClient.tcp(gw.stompPort));
    const t0 = Date.now();
    assert.equal((await fast.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '1000,1000' })).headers['heart-beat'], '1000,1000');
    const faster = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await faster.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '100,100' })).headers['heart-beat'], '1000,1000');
    const slower = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await slower.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '20000,30000' })).headers['heart-beat'], '30000,20000');
    const none = await client(RawClient.tcp(gw.stompPort));
    assert.equal((await none.connect({ 'accept-version': '1.2', host: 'h', 'heart-beat': '0,0' })).headers['heart-beat'], '10000,10000');
    // The gateway beats every second to `fast`, and closes it (no ERROR: it is presumed dead)
    // once it has been silent for 2x its 1 s.
    await checkFor('two heart-beats', () => fast.heartbeats >= 2, 3_000);
    assert.ok(Date.now() - t0 >= 1_000, 'no faster than asked');
    await fast.waitClosed(4_000);
    assert.ok(Date.now() - t0 >= 2_000, 'closed after 2x the interval of silence');
    assert.equal(fast.frames.length, 1);
    assert.ok(metricValue(await metricsText(gw), 'hawser_gateway_heartbeat_timeouts_total', {}) >= 1);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}
