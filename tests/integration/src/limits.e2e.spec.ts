// Limits per connection and per broker (issue 10), with real processes: no client can hurt
// the others.
//   1. limits.maxSubscriptions: the SUBSCRIBE past the cap gets an ERROR naming the key; the
//      other clients of the gateway go on.
//   2. Heart-beats down to 1 s: @stomp/stompjs asking for 1 s beats both ways stays connected
//      (with the old 10 s floor it timed the gateway out itself after 2 s), and a raw client
//      that asks for 1 s and falls silent is closed by the gateway after ~2 s.
//   3. broker.maxDestinations: the store refuses one destination more; the refusal reaches
//      the client as an ERROR naming the key; the known destinations keep working.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
// stomp.js ships its typings as ESM; its `require` entry is a UMD bundle we load at runtime.
import type { Client as StompJsClient, IFrame, IMessage } from '@stomp/stompjs' with { 'resolution-mode': 'import' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Client } = require('@stomp/stompjs') as { Client: typeof StompJsClient };
import { Harness, checkFor, httpGet, type Gateway, type Store } from './harness';
import { Clients, RawStomp, unique } from './support';

/** A metric's value on a service's /metrics (0 when the series is absent). */
async function metric(httpPort: number, name: string, labels: Record<string, string>): Promise<number> {
  const { body } = await httpGet(httpPort, '/metrics');
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return 0;
}

describe('limits per connection and per broker', { timeout: 120_000 }, () => {
  const h = new Harness('limits');
  let gateway: Gateway;
  let store: Store;
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    ({ store, gateway } = await h.startBroker({
      store: { args: ['--broker.maxDestinations', '4'] },
      gateway: { args: ['--limits.maxSubscriptions', '2'] },
    }));
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  it('limits.maxSubscriptions: the third SUBSCRIBE gets ERROR naming the key and the connection closes; another client goes on', { timeout: 20_000 }, async () => {
    const q = '/queue/limits-subs'; // destination 1 of 4
    const witness = await clients.connect();
    const witnessSub = await witness.subscribe(q);
    const raw = await RawStomp.open(gateway.stompPort);
    try {
      await raw.handshake();
      raw.write(`SUBSCRIBE\nid:s1\ndestination:${q}\nreceipt:r1\n\n\0SUBSCRIBE\nid:s2\ndestination:${q}\nreceipt:r2\n\n\0`);
      await raw.waitFor((f) => f.filter((x) => x.command === 'RECEIPT').length === 2, 5_000, 'two RECEIPTs');
      raw.write(`SUBSCRIBE\nid:s3\ndestination:${q}\nreceipt:r3\n\n\0`);
      const err = await raw.expectErrorAndClose(5_000);
      assert.equal(err.headers['message'], 'too many subscriptions: this connection holds 2, the most allowed (limits.maxSubscriptions); UNSUBSCRIBE one first, or raise limits.maxSubscriptions');
    } finally {
      raw.destroy();
    }
    assert.equal(await metric(gateway.httpPort, 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxSubscriptions' }), 1);
    await witness.send(q, 'still-here');
    assert.equal((await witnessSub.next(5_000)).text, 'still-here');
  });

  it('heart-beats every 1 s: stomp.js asking for them stays connected; a silent client asking for them is closed after ~2 s', { timeout: 30_000 }, async () => {
    const q = '/queue/limits-hb'; // destination 2 of 4
    const closes: number[] = [];
    let connected: IFrame | undefined;
    const js = new Client({
      webSocketFactory: () => new WebSocket(gateway.wsUri, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      reconnectDelay: 0,
      heartbeatIncoming: 1000,
      heartbeatOutgoing: 1000,
      connectionTimeout: 5000,
      debug: () => {},
    });
    js.onConnect = (f) => { connected = f; };
    js.onWebSocketClose = () => { closes.push(Date.now()); };
    js.activate();
    try {
      await checkFor(5_000, 20, () => assert.ok(connected, 'stomp.js connected'));
      assert.equal(connected!.headers['heart-beat'], '1000,1000', 'the gateway honours 1 s both ways (not its 10 s offer)');
      // stomp.js closes the socket itself after 2x its incoming interval without a beat.
      await new Promise((r) => setTimeout(r, 3_500));
      assert.deepEqual(closes, [], 'still connected after 3.5 s of idle heart-beating');
      const got = new Promise<IMessage>((resolve) => js.subscribe(q, resolve));
      js.publish({ destination: q, body: 'beat' });
      assert.equal((await got).body, 'beat');
    } finally {
      await js.deactivate();
    }

    const silent = await RawStomp.open(gateway.stompPort);
    try {
      const t0 = Date.now();
      silent.write('CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:1000,1000\n\n\0');
      await silent.waitFor((_f, closed) => closed, 6_000, 'the gateway to close the silent client');
      const after = Date.now() - t0;
      assert.ok(after >= 2_000 && after < 4_500, `closed after 2x the 1 s interval (took ${after} ms)`);
      assert.ok(silent.frames().some((f) => f.command === 'CONNECTED'));
    } finally {
      silent.destroy();
    }
    assert.ok(await metric(gateway.httpPort, 'hawser_gateway_heartbeat_timeouts_total', {}) >= 1);
  });

  it('broker.maxDestinations: the store refuses one destination more with an ERROR naming the key; known ones keep working', { timeout: 20_000 }, async () => {
    const producer = await clients.connect();
    await producer.send('/queue/limits-d3', 'three'); // destinations 3 and 4 of 4
    await producer.send('/queue/limits-d4', 'four');
    const raw = await RawStomp.open(gateway.stompPort);
    try {
      await raw.handshake();
      raw.write(`SEND\ndestination:${unique('/queue/limits-d')}\nreceipt:r\n\nfive\0`);
      const err = await raw.expectErrorAndClose(5_000);
      assert.equal(err.headers['message'], 'too many destinations: this broker holds 4, the most allowed (broker.maxDestinations); use an existing destination, or raise broker.maxDestinations');
    } finally {
      raw.destroy();
    }
    assert.equal(await metric(store.httpPort, 'hawser_store_limit_refusals_total', { limit: 'broker.maxDestinations' }), 1);
    // The known ones keep working, for a new connection too.
    const consumer = await clients.connect();
    const sub = await consumer.subscribe('/queue/limits-d3');
    assert.equal((await sub.next(5_000)).text, 'three');
    await producer.send('/queue/limits-d4', 'four again');
  });
});

// The other per-connection caps with real processes (each also has an in-process spec in
// libs/gateway/src/limits.spec.ts): transactions, message-id length, prefetch clamp, and
// connections per remote address (its own gateway: every client here comes from 127.0.0.1).
describe('more caps per connection', { timeout: 120_000 }, () => {
  const h = new Harness('limits-more');
  let gateway: Gateway;
  let store: Store;
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    ({ store, gateway } = await h.startBroker({
      gateway: { args: ['--limits.maxTransactions', '1', '--limits.maxMessageIdLength', '16', '--limits.maxPrefetch', '3'] },
    }));
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  async function refused(frames: string, key: string): Promise<string> {
    const raw = await RawStomp.open(gateway.stompPort);
    try {
      await raw.handshake();
      raw.write(frames);
      const err = await raw.expectErrorAndClose(5_000);
      assert.ok(err.headers['message']!.includes(key), `${err.headers['message']} names ${key}`);
      return err.headers['message']!;
    } finally {
      raw.destroy();
    }
  }

  it('limits.maxTransactions and limits.maxMessageIdLength: the frame past the cap gets an ERROR naming the key, nothing stored', { timeout: 20_000 }, async () => {
    await refused('BEGIN\ntransaction:t1\n\n\0BEGIN\ntransaction:t2\nreceipt:r\n\n\0', 'limits.maxTransactions');
    const q = unique('/queue/limits-id');
    await refused(`SEND\ndestination:${q}\nmessage-id:${'x'.repeat(17)}\nreceipt:r\n\nlong id\0`, 'limits.maxMessageIdLength');
    // 16 bytes is fine, and the long one was not stored.
    const producer = await clients.connect();
    await producer.send(q, 'short id', { headers: { 'message-id': 'x'.repeat(16) } });
    const sub = await (await clients.connect()).subscribe(q);
    assert.equal((await sub.next(5_000)).text, 'short id');
    assert.equal(await sub.tryNext(300), undefined);
    assert.equal(await metric(gateway.httpPort, 'hawser_gateway_limit_refusals_total', { limit: 'limits.maxTransactions' }), 1);
  });

  it('limits.maxPrefetch: a prefetch of 100 is lowered to 3 — a client that does not ack holds 3 messages, not 10', { timeout: 20_000 }, async () => {
    const q = unique('/queue/limits-prefetch');
    const producer = await clients.connect();
    for (let i = 0; i < 10; i++) await producer.send(q, `m${i}`, { persistent: true });
    const raw = await RawStomp.open(gateway.stompPort);
    try {
      await raw.handshake();
      raw.write(`SUBSCRIBE\nid:s\ndestination:${q}\nack:client-individual\nactivemq.prefetchSize:100\n\n\0`);
      await raw.waitFor((f) => f.filter((x) => x.command === 'MESSAGE').length >= 3, 5_000, 'three MESSAGEs');
      await new Promise((r) => setTimeout(r, 500)); // a prefetch of 100 would have delivered all 10 by now
      assert.equal(raw.frames().filter((x) => x.command === 'MESSAGE').length, 3);
    } finally {
      raw.destroy();
    }
  });

  it('limits.maxConnectionsPerAddress: the connection past the cap from one address gets an ERROR; a slot frees on close', { timeout: 30_000 }, async () => {
    const gw2 = await h.startGateway(store, { id: 'gw-per-address', args: ['--limits.maxConnectionsPerAddress', '2'] });
    const a = await clients.connect({}, gw2.stompUri);
    const b = await clients.connect({}, gw2.stompUri);
    await assert.rejects(clients.connect({}, gw2.stompUri), /maxConnectionsPerAddress/);
    await a.disconnect();
    await checkFor(5_000, 50, async () => {
      const c = await clients.connect({}, gw2.stompUri);
      await c.disconnect();
    });
    await b.send(unique('/queue/limits-addr'), 'b still works');
  });
});
