// The client against a fake STOMP server: a net server on port 0 that speaks raw frames
// through @hawser/stomp's server-side parser, scripted by each test.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { WebSocketServer } from 'ws';
import { StompParser, encodeFrame, frame, getHeader, type StompFrame, type StompVersion } from '@hawser/stomp';
import {
  connect, parseTarget, parseEndpoint, StompServerError, ReceiptTimeoutError, UnsupportedError,
  HeartbeatTimeoutError, InvalidUriError, ConnectionClosedError, ConnectTimeoutError, TransactionRolledBackError, type StompClient,
} from './index';

type Event = { type: 'frame'; frame: StompFrame } | { type: 'heartbeat' } | { type: 'close' };

/** One client connection as the fake server sees it. */
class Peer {
  readonly events: Event[] = [];
  private waiters: Array<() => void> = [];
  private readonly parser = new StompParser({ side: 'server' });
  version: StompVersion = '1.2';
  constructor(readonly write: (b: Buffer) => void, readonly end: () => void) {}

  push(chunk: Buffer): void {
    for (const ev of this.parser.push(chunk)) this.add(ev);
  }
  add(ev: Event): void {
    this.events.push(ev);
    for (const w of this.waiters.splice(0)) w();
  }
  setVersion(v: StompVersion): void { this.version = v; this.parser.setVersion(v); }
  send(f: StompFrame): void { this.write(encodeFrame(f, this.version)); }

  /** The next frame (skipping heart-beats), within 2 s. */
  async frame(timeoutMs = 2000): Promise<StompFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.type === 'frame');
      if (i >= 0) {
        const [ev] = this.events.splice(0, i + 1).slice(-1);
        return (ev as { frame: StompFrame }).frame;
      }
      if (this.events.some((e) => e.type === 'close')) throw new Error('peer closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame within deadline');
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Answers CONNECT with CONNECTED for `version`. */
  async accept(version: StompVersion = '1.2', extra: Record<string, string> = {}): Promise<StompFrame> {
    const c = await this.frame();
    assert.equal(c.command, 'CONNECT');
    this.send(frame('CONNECTED', { version, session: 'sess-1', server: 'fake/1', ...extra }));
    this.setVersion(version);
    return c;
  }

  receipt(f: StompFrame): void {
    this.send(frame('RECEIPT', { 'receipt-id': getHeader(f, 'receipt') }));
  }
}

class FakeServer {
  private server!: net.Server;
  port = 0;
  private readonly peers: Peer[] = [];
  private waiters: Array<() => void> = [];
  private sockets = new Set<net.Socket>();

  async start(): Promise<void> {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      const peer = new Peer((b) => socket.write(b), () => socket.end());
      socket.on('data', (d) => peer.push(d));
      socket.on('close', () => { this.sockets.delete(socket); peer.add({ type: 'close' }); });
      socket.on('error', () => {});
      this.peers.push(peer);
      for (const w of this.waiters.splice(0)) w();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get uri(): string { return `stomp://127.0.0.1:${this.port}`; }

  async peer(): Promise<Peer> {
    const deadline = Date.now() + 2000;
    while (this.peers.length === 0) {
      if (Date.now() > deadline) throw new Error('no connection');
      await new Promise<void>((r) => { const t = setTimeout(r, 50); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.peers.shift()!;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Connects a client and accepts it on the fake server. */
async function open(server: FakeServer, version: StompVersion = '1.2', opts = {}): Promise<{ client: StompClient; peer: Peer; connect: StompFrame }> {
  const pc = connect(server.uri, { login: 'u', passcode: 'p', clientId: 'c1', ...opts });
  const peer = await server.peer();
  const connectFrame = await peer.accept(version);
  return { client: await pc, peer, connect: connectFrame };
}

let server: FakeServer;
const clients: StompClient[] = [];
async function setup(): Promise<FakeServer> {
  server = new FakeServer();
  await server.start();
  return server;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server) await server.stop();
});

describe('uri', () => {
  it('parses stomp, tcp, ws and wss URIs with default ports', () => {
    assert.deepEqual(parseEndpoint('stomp://127.0.0.1:1234'), { transport: 'tcp', host: '127.0.0.1', port: 1234, path: '/', uri: 'stomp://127.0.0.1:1234' });
    assert.equal(parseEndpoint('tcp://h').port, 61613);
    assert.equal(parseEndpoint('ws://h/stomp?x=1').path, '/stomp?x=1');
    assert.equal(parseEndpoint('ws://h').port, 61614);
    assert.equal(parseEndpoint('wss://[::1]:9').host, '::1');
    assert.equal(parseTarget(' stomp://a:1 ').endpoints.length, 1);
  });
  it('rejects unknown schemes and garbage with InvalidUriError; connect() points failover URIs to connectFailover()', async () => {
    assert.throws(() => parseEndpoint('http://h:1'), InvalidUriError);
    assert.throws(() => parseEndpoint('nonsense'), InvalidUriError);
    assert.equal(parseTarget('failover:(stomp://a:1,stomp://b:2)').endpoints.length, 2);
    await assert.rejects(connect('failover:(stomp://a:1,stomp://b:2)'), /use connectFailover\(\)/);
  });
});

describe('client', { timeout: 20_000 }, () => {
  it('connects: CONNECT carries versions, credentials, client-id, host, heart-beat', async () => {
    const s = await setup();
    const { client, connect: c } = await open(s, '1.2', { heartBeat: [0, 0] });
    clients.push(client);
    assert.equal(getHeader(c, 'accept-version'), '1.0,1.1,1.2');
    assert.equal(getHeader(c, 'login'), 'u');
    assert.equal(getHeader(c, 'passcode'), 'p');
    assert.equal(getHeader(c, 'client-id'), 'c1');
    assert.equal(getHeader(c, 'host'), '127.0.0.1');
    assert.equal(getHeader(c, 'heart-beat'), '0,0');
    assert.equal(client.version, '1.2');
    assert.equal(client.session, 'sess-1');
    assert.equal(client.connected, true);
  });

  it('a 1.0-only client sends no accept-version', async () => {
    const s = await setup();
    const { client, connect: c } = await open(s, '1.0', { version: '1.0' });
    clients.push(client);
    assert.equal(getHeader(c, 'accept-version'), undefined);
    assert.equal(client.version, '1.0');
  });

  it('connect rejects with StompServerError when the server answers ERROR', async () => {
    const s = await setup();
    const pc = connect(s.uri, { login: 'bad' });
    const peer = await s.peer();
    await peer.frame();
    peer.send(frame('ERROR', { message: 'bad credentials' }, 'login failed'));
    peer.end();
    await assert.rejects(pc, (e: unknown) => e instanceof StompServerError && e.serverMessage === 'bad credentials' && e.code === 'SERVER_ERROR');
  });

  it('connect rejects with ConnectTimeoutError when no CONNECTED comes', async () => {
    const s = await setup();
    const pc = connect(s.uri, { connectTimeoutMs: 200 });
    await s.peer();
    await assert.rejects(pc, ConnectTimeoutError);
  });

  it('correlates receipts that come back out of order, and times out a missing one', async () => {
    const s = await setup();
    const { client, peer } = await open(s, '1.2', { receiptTimeoutMs: 300 });
    clients.push(client);
    const done: string[] = [];
    const p = ['a', 'b', 'c'].map((b) => client.send('/queue/q', b, { persistent: true }).then(() => done.push(b)));
    const frames = [await peer.frame(), await peer.frame(), await peer.frame()];
    assert.deepEqual(frames.map((f) => f.body.toString()), ['a', 'b', 'c']);
    assert.equal(getHeader(frames[0]!, 'persistent'), 'true');
    assert.equal(getHeader(frames[0]!, 'destination'), '/queue/q');
    peer.receipt(frames[2]!);
    peer.receipt(frames[0]!);
    peer.receipt(frames[1]!);
    await Promise.all(p);
    assert.deepEqual(done, ['c', 'a', 'b']);
    const lost = client.send('/queue/q', 'x');
    await peer.frame();
    await assert.rejects(lost, ReceiptTimeoutError);
  });

  it('dispatches MESSAGEs to the right subscription; iteration ends on unsubscribe', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    clients.push(client);
    const pa = client.subscribe('/queue/a', { ack: 'client-individual', prefetch: 1, selector: "x = 'y'" });
    const fa = await peer.frame();
    assert.equal(fa.command, 'SUBSCRIBE');
    assert.equal(getHeader(fa, 'ack'), 'client-individual');
    assert.equal(getHeader(fa, 'activemq.prefetchSize'), '1');
    assert.equal(getHeader(fa, 'selector'), "x = 'y'");
    peer.receipt(fa);
    const a = await pa;
    const pb = client.subscribe('/topic/b', { receipt: false });
    const b = await pb;
    const fb = await peer.frame();
    const send = (sub: string, dest: string, id: string) =>
      peer.send(frame('MESSAGE', { subscription: sub, destination: dest, 'message-id': id, ack: `ack-${id}` }, `body-${id}`));
    send(getHeader(fb, 'id')!, '/topic/b', '1');
    send(getHeader(fa, 'id')!, '/queue/a', '2');
    send(getHeader(fa, 'id')!, '/queue/a', '3');
    const m2 = await a.next(1000);
    assert.equal(m2.text, 'body-2');
    assert.equal(m2.ackId, 'ack-2');
    assert.equal((await b.next(1000)).messageId, '1');
    assert.equal(await b.tryNext(50), undefined);
    const pu = a.unsubscribe();
    const fu = await peer.frame();
    assert.equal(fu.command, 'UNSUBSCRIBE');
    assert.equal(getHeader(fu, 'id'), a.id);
    peer.receipt(fu);
    await pu;
    const rest: string[] = [];
    for await (const m of a) rest.push(m.messageId);
    assert.deepEqual(rest, ['3']); // buffered before the unsubscribe: still readable
  });

  for (const version of ['1.0', '1.1', '1.2'] as const) {
    it(`ACK/NACK frames follow STOMP ${version}`, async () => {
      const s = await setup();
      const { client, peer } = await open(s, version);
      clients.push(client);
      const sub = await client.subscribe('/queue/a', { ack: 'client', receipt: false });
      const f = await peer.frame();
      peer.send(frame('MESSAGE', { subscription: getHeader(f, 'id'), destination: '/queue/a', 'message-id': 'm-1', ack: 'a-1' }, 'x'));
      const m = await sub.next(1000);
      const pa = m.ack();
      const ack = await peer.frame();
      assert.equal(ack.command, 'ACK');
      if (version === '1.2') {
        assert.equal(getHeader(ack, 'id'), 'a-1');
      } else if (version === '1.1') {
        assert.equal(getHeader(ack, 'subscription'), sub.id);
        assert.equal(getHeader(ack, 'message-id'), 'm-1');
      } else {
        assert.equal(getHeader(ack, 'message-id'), 'm-1');
        assert.equal(getHeader(ack, 'id'), undefined);
      }
      peer.receipt(ack);
      await pa;
      if (version === '1.0') {
        await assert.rejects(m.nack(), UnsupportedError);
      } else {
        const pn = m.nack({ receipt: false });
        await pn;
        const nack = await peer.frame();
        assert.equal(nack.command, 'NACK');
        assert.equal(getHeader(nack, version === '1.2' ? 'id' : 'message-id'), version === '1.2' ? 'a-1' : 'm-1');
      }
    });
  }

  it('an ERROR frame rejects the pending operation and is emitted as a typed error', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    const closed = new Promise((r) => client.once('close', r));
    const p = client.send('/queue/q', 'x');
    const other = client.send('/queue/q', 'y');
    const f = await peer.frame();
    await peer.frame();
    peer.send(frame('ERROR', { message: 'destination is read-only', 'receipt-id': getHeader(f, 'receipt') }, 'details'));
    peer.end();
    await assert.rejects(p, (e: unknown) => e instanceof StompServerError && e.serverMessage === 'destination is read-only' && e.details === 'details');
    await assert.rejects(other, StompServerError); // the connection is dead: everything pending fails
    await closed;
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof StompServerError);
    await assert.rejects(client.send('/queue/q', 'z'), ConnectionClosedError);
  });

  it('transactions: BEGIN, SEND and ACK carry the transaction, COMMIT waits for its receipt', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    clients.push(client);
    const tx = client.begin();
    const begin = await peer.frame();
    assert.equal(begin.command, 'BEGIN');
    assert.equal(getHeader(begin, 'transaction'), tx.id);
    const ps = tx.send('/queue/q', 'in-tx', { receipt: false });
    await ps;
    const sf = await peer.frame();
    assert.equal(getHeader(sf, 'transaction'), tx.id);
    const pc = tx.commit();
    const commit = await peer.frame();
    assert.equal(commit.command, 'COMMIT');
    peer.receipt(commit);
    await pc;
    assert.equal(tx.status, 'committed');
    await assert.rejects(tx.send('/queue/q', 'late'), /committed/);
  });

  it('a COMMIT refused with TRANSACTION_ROLLED_BACK (the gateway moved the session inside it) rejects with TransactionRolledBackError', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    client.on('error', () => undefined);
    const tx = client.begin();
    await peer.frame();
    const pc = tx.commit();
    const commit = await peer.frame();
    peer.send(frame('ERROR', { message: "transaction 'x' was rolled back: the session moved to a new master", 'receipt-id': getHeader(commit, 'receipt')! }, 'TRANSACTION_ROLLED_BACK: transaction ...\n'));
    peer.end();
    await assert.rejects(pc, (e: unknown) => e instanceof TransactionRolledBackError && e.code === 'TRANSACTION_ROLLED_BACK' &&
      e.message.startsWith("transaction 'x' was rolled back") && e.cause instanceof StompServerError);
  });

  it('a send window keeps at most W SENDs un-receipted', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    clients.push(client);
    const promises = client.sendPipelined(Array.from({ length: 5 }, (_, i) => ({ destination: '/queue/w', body: `m${i}` })), 2);
    const f0 = await peer.frame();
    const f1 = await peer.frame();
    await assert.rejects(peer.frame(150), /no frame/); // the window is full
    peer.receipt(f0);
    const f2 = await peer.frame();
    assert.equal(f2.body.toString(), 'm2');
    peer.receipt(f1);
    peer.receipt(f2);
    const f3 = await peer.frame();
    const f4 = await peer.frame();
    peer.receipt(f3);
    peer.receipt(f4);
    await Promise.all(promises);
  });

  it('sends heart-beats at the negotiated rate', async () => {
    const s = await setup();
    const { client } = await open(s, '1.2', { heartBeat: [50, 0] });
    clients.push(client);
    assert.equal(client.heartBeat.send, 0); // the CONNECTED had no heart-beat header: none
    client.destroy();
    const pc = connect(s.uri, { heartBeat: [50, 0] });
    const p2 = await s.peer();
    await p2.frame();
    p2.send(frame('CONNECTED', { version: '1.2', 'heart-beat': '0,40' }));
    const c2 = await pc;
    clients.push(c2);
    // STOMP 1.1: we can send every 50 ms, the server wants one every 40: max(50, 40) = 50.
    assert.equal(c2.heartBeat.send, 50);
    const deadline = Date.now() + 2000;
    while (p2.events.filter((e) => e.type === 'heartbeat').length < 3) {
      assert.ok(Date.now() < deadline, 'expected 3 heart-beats within 2 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('closes with HeartbeatTimeoutError when the server goes silent', async () => {
    const s = await setup();
    const pc = connect(s.uri, { heartBeat: [0, 50] });
    const peer = await s.peer();
    await peer.frame();
    peer.send(frame('CONNECTED', { version: '1.2', 'heart-beat': '50,0' }));
    const client = await pc;
    clients.push(client);
    assert.equal(client.heartBeat.expect, 50);
    const err = await new Promise((r) => client.once('close', r));
    assert.ok(err instanceof HeartbeatTimeoutError, String(err));
  });

  it('speaks STOMP over WebSocket with the v1x.stomp subprotocols', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const port = (wss.address() as net.AddressInfo).port;
    let protocol = '';
    const got: StompFrame[] = [];
    wss.on('connection', (ws) => {
      protocol = ws.protocol;
      const parser = new StompParser({ side: 'server' });
      ws.on('message', (data: Buffer) => {
        for (const ev of parser.push(data)) {
          if (ev.type !== 'frame') continue;
          got.push(ev.frame);
          if (ev.frame.command === 'CONNECT') ws.send(encodeFrame(frame('CONNECTED', { version: '1.2' }), '1.2').toString());
          const r = getHeader(ev.frame, 'receipt');
          if (r) ws.send(encodeFrame(frame('RECEIPT', { 'receipt-id': r }), '1.2').toString());
        }
      });
    });
    try {
      const c = await connect(`ws://127.0.0.1:${port}/`);
      await c.send('/queue/ws', 'over ws');
      await c.disconnect();
      assert.equal(protocol, 'v12.stomp');
      assert.deepEqual(got.map((f) => f.command), ['CONNECT', 'SEND', 'DISCONNECT']);
      assert.equal(got[1]!.body.toString(), 'over ws');
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  it('disconnect waits for the DISCONNECT receipt and closes without error', async () => {
    const s = await setup();
    const { client, peer } = await open(s);
    let closeErr: unknown = 'not closed';
    client.on('close', (e) => { closeErr = e; });
    const pd = client.disconnect();
    const d = await peer.frame();
    assert.equal(d.command, 'DISCONNECT');
    peer.receipt(d);
    peer.end();
    await pd;
    assert.equal(closeErr, undefined);
  });
});
