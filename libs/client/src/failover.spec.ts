// Failover: the URI parser and the reconnect schedule from tables; the FailoverClient against
// two fake STOMP servers (each a net server on port 0 answering like a tiny broker).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { StompParser, encodeFrame, frame, getHeader, type StompFrame } from '@hawser/stomp';
import {
  parseTarget, InvalidUriError, FAILOVER_DEFAULTS, ReconnectSchedule, connectFailover, ReconnectFailedError,
  FailoverTimeoutError, TransactionRolledBackError, AckNotConfirmedError, type FailoverOptions, type FailoverClient, type ReconnectAction,
  StompServerError, type DiscardedInfo,
} from './index';

// ---- URI -----------------------------------------------------------------------------------

describe('failover URI', () => {
  it('parses failover:(...)?options with ActiveMQ defaults for the rest', () => {
    const t = parseTarget('failover:(stomp://h1:61613,ws://h2:61614)?randomize=false&initialReconnectDelay=100&maxReconnectDelay=5000&useExponentialBackOff=true&backOffMultiplier=2&maxReconnectAttempts=-1&startupMaxReconnectAttempts=3&timeout=2500&priorityBackup=true');
    assert.deepEqual(t.endpoints.map((e) => [e.transport, e.host, e.port]), [['tcp', 'h1', 61613], ['ws', 'h2', 61614]]);
    assert.deepEqual(t.failover, {
      randomize: false, initialReconnectDelay: 100, maxReconnectDelay: 5000, useExponentialBackOff: true, backOffMultiplier: 2,
      maxReconnectAttempts: -1, startupMaxReconnectAttempts: 3, timeout: 2500, priorityBackup: true, priorityURIs: [],
    });
  });

  const forms: Array<[string, string[], Partial<FailoverOptions>]> = [
    ['failover:stomp://a:1,stomp://b:2', ['stomp://a:1', 'stomp://b:2'], {}],
    ['failover://(stomp://a:1)', ['stomp://a:1'], {}],
    ['FAILOVER:(stomp://a:1, stomp://b:2)', ['stomp://a:1', 'stomp://b:2'], {}],
    ['failover:stomp://a:1,stomp://b:2?randomize=false', ['stomp://a:1', 'stomp://b:2'], { randomize: false }],
    ['failover:stomp://a:1,ws://b:2/path?x=1', ['stomp://a:1', 'ws://b:2/path?x=1'], {}],
    ['failover:(ws://a:1/s?x=1,stomp://b:2)?timeout=5', ['ws://a:1/s?x=1', 'stomp://b:2'], { timeout: 5 }],
    ['failover:(stomp://a:1,stomp://b:2)?reconnectDelayExponent=1.5', ['stomp://a:1', 'stomp://b:2'], { backOffMultiplier: 1.5 }],
    ['failover:(stomp://a:1,stomp://b:2)?priorityBackup=true&priorityURIs=stomp://b:2', ['stomp://a:1', 'stomp://b:2'], { priorityBackup: true, priorityURIs: ['stomp://b:2'] }],
  ];
  for (const [uri, uris, opts] of forms) {
    it(`parses ${uri}`, () => {
      const t = parseTarget(uri);
      assert.deepEqual(t.endpoints.map((e) => e.uri), uris);
      assert.deepEqual(t.failover, { ...FAILOVER_DEFAULTS, priorityURIs: [], ...opts });
    });
  }

  it('ActiveMQ defaults', () => {
    assert.deepEqual(FAILOVER_DEFAULTS, {
      randomize: true, initialReconnectDelay: 10, maxReconnectDelay: 30000, useExponentialBackOff: true, backOffMultiplier: 2,
      maxReconnectAttempts: -1, startupMaxReconnectAttempts: -1, timeout: -1, priorityBackup: false, priorityURIs: [],
    });
  });

  const bad: Array<[string, RegExp]> = [
    ['failover:()', /no broker URIs/],
    ['failover:(stomp://a:1', /unbalanced parentheses/],
    ['failover:(stomp://a:1)x', /unexpected 'x'/],
    ['failover:(stomp://a:1)?randomize=maybe', /option randomize must be true or false, got 'maybe'/],
    ['failover:(stomp://a:1)?initialReconnectDelay=-5', /option initialReconnectDelay must be an integer >= 0/],
    ['failover:(stomp://a:1)?maxReconnectAttempts=-2', /option maxReconnectAttempts must be an integer >= -1/],
    ['failover:(stomp://a:1)?timeout=soon', /option timeout must be an integer >= -1/],
    ['failover:(stomp://a:1)?backOffMultiplier=0.5', /option backOffMultiplier must be a number >= 1/],
    ['failover:(stomp://a:1)?initialReconnectDelay=100&maxReconnectDelay=10', /maxReconnectDelay \(10\) is below initialReconnectDelay \(100\)/],
    ['failover:(stomp://a:1)?bogus=1', /unknown failover option 'bogus'/],
    ['failover:(http://a:1)', /unsupported scheme 'http:'/],
    ['failover:(stomp://a:1)?priorityURIs=stomp://z:9', /priorityURIs names 'stomp:\/\/z:9'/],
    ['failover:(failover:(stomp://a:1))', /nested failover URI/],
  ];
  for (const [uri, re] of bad) {
    it(`rejects ${uri}`, () => {
      assert.throws(() => parseTarget(uri), (e: unknown) => e instanceof InvalidUriError && re.test(e.message));
    });
  }
});

// ---- reconnect schedule (pure) ---------------------------------------------------------------

type Ev = 'start' | 'fail' | 'waited' | 'up' | 'lost' | 'probe-fail';
function script(n: number, opts: Partial<FailoverOptions>, events: Array<Ev | ['up', number]>, random = () => 0.99): string[] {
  const s = new ReconnectSchedule(Array.from({ length: n }, (_, i) => ({ uri: `u${i}` })), { ...FAILOVER_DEFAULTS, priorityURIs: [], randomize: false, ...opts }, random);
  const show = (a: ReconnectAction): string => {
    switch (a.type) {
      case 'dial': return `dial ${a.endpoint}`;
      case 'wait': return `wait ${a.ms}`;
      case 'give-up': return `give-up ${a.passes}`;
      case 'probe': return `probe ${a.endpoint} ${a.ms}`;
      case 'idle': return 'idle';
    }
  };
  let last = -1;
  return events.map((e) => {
    let a: ReconnectAction;
    if (Array.isArray(e)) a = s.connected(e[1]);
    else if (e === 'start') a = s.start();
    else if (e === 'fail') a = s.dialFailed();
    else if (e === 'waited') a = s.waited();
    else if (e === 'up') a = s.connected(last);
    else if (e === 'lost') a = s.lost();
    else a = s.probeFailed();
    if (a.type === 'dial') last = a.endpoint;
    return show(a);
  });
}

describe('reconnect schedule', () => {
  const table: Array<{ name: string; n: number; opts: Partial<FailoverOptions>; events: Array<Ev | ['up', number]>; want: string[]; random?: () => number }> = [
    { name: 'left to right, connected at once', n: 2, opts: {}, events: ['start', 'up'], want: ['dial 0', 'idle'] },
    { name: 'first URI down: the second in the same pass', n: 2, opts: {}, events: ['start', 'fail', 'up'], want: ['dial 0', 'dial 1', 'idle'] },
    {
      name: 'exponential backoff between passes, capped at maxReconnectDelay',
      n: 2, opts: { initialReconnectDelay: 100, maxReconnectDelay: 500, backOffMultiplier: 2 },
      events: ['start', 'fail', 'fail', 'waited', 'fail', 'fail', 'waited', 'fail', 'fail', 'waited', 'fail', 'fail', 'waited', 'fail', 'fail'],
      want: ['dial 0', 'dial 1', 'wait 100', 'dial 0', 'dial 1', 'wait 200', 'dial 0', 'dial 1', 'wait 400', 'dial 0', 'dial 1', 'wait 500', 'dial 0', 'dial 1', 'wait 500'],
    },
    {
      name: 'no exponential backoff: always initialReconnectDelay',
      n: 1, opts: { initialReconnectDelay: 30, useExponentialBackOff: false },
      events: ['start', 'fail', 'waited', 'fail', 'waited', 'fail'], want: ['dial 0', 'wait 30', 'dial 0', 'wait 30', 'dial 0', 'wait 30'],
    },
    { name: 'maxReconnectAttempts=0: one pass, then give up', n: 2, opts: { maxReconnectAttempts: 0 }, events: ['start', 'fail', 'fail'], want: ['dial 0', 'dial 1', 'give-up 1'] },
    {
      name: 'maxReconnectAttempts=2: the first pass and two more',
      n: 1, opts: { maxReconnectAttempts: 2, initialReconnectDelay: 5 },
      events: ['start', 'fail', 'waited', 'fail', 'waited', 'fail'], want: ['dial 0', 'wait 5', 'dial 0', 'wait 10', 'dial 0', 'give-up 3'],
    },
    {
      name: 'startupMaxReconnectAttempts applies before the first connection only',
      n: 1, opts: { startupMaxReconnectAttempts: 1, maxReconnectAttempts: -1, initialReconnectDelay: 5 },
      events: ['start', 'fail', 'waited', 'up', 'lost', 'fail', 'waited', 'fail', 'waited', 'fail'],
      want: ['dial 0', 'wait 5', 'dial 0', 'idle', 'dial 0', 'wait 5', 'dial 0', 'wait 10', 'dial 0', 'wait 20'],
    },
    { name: 'startupMaxReconnectAttempts=0 gives up after one pass at startup', n: 2, opts: { startupMaxReconnectAttempts: 0 }, events: ['start', 'fail', 'fail'], want: ['dial 0', 'dial 1', 'give-up 1'] },
    {
      name: 'connection lost: a new pass at once, the lost URI last; the delay starts over after a connection',
      n: 3, opts: { initialReconnectDelay: 10 },
      events: ['start', 'fail', 'up', 'lost', 'fail', 'fail', 'fail', 'waited', 'up', 'lost'],
      want: ['dial 0', 'dial 1', 'idle', 'dial 0', 'dial 2', 'dial 1', 'wait 10', 'dial 0', 'idle', 'dial 1'],
    },
    {
      name: 'randomize: a shuffled pass from the random source',
      n: 3, opts: { randomize: true }, random: () => 0, events: ['start', 'fail', 'fail'], want: ['dial 1', 'dial 2', 'dial 0'],
    },
    {
      name: 'priorityBackup: the first URI first (even right after it was lost); on a backup, probe it with backoff',
      n: 2, opts: { priorityBackup: true, initialReconnectDelay: 50, maxReconnectDelay: 150 },
      events: ['start', 'fail', 'up', 'probe-fail', 'probe-fail', 'probe-fail', ['up', 0], 'lost'],
      want: ['dial 0', 'dial 1', 'probe 0 50', 'probe 0 100', 'probe 0 150', 'probe 0 150', 'idle', 'dial 0'],
    },
    {
      name: 'priorityURIs name the priority endpoint',
      n: 3, opts: { priorityBackup: true, priorityURIs: ['u2'], initialReconnectDelay: 7 }, events: ['start', 'fail', 'up'], want: ['dial 2', 'dial 0', 'probe 2 7'],
    },
  ];
  for (const c of table) {
    it(c.name, () => assert.deepEqual(script(c.n, c.opts, c.events, c.random), c.want));
  }
});

// ---- the I/O wrapper against two fake STOMP servers -------------------------------------------

/** A tiny broker over raw STOMP: receipts, SEND -> MESSAGE to matching subscriptions (every connection of this server). */
class FakeBroker {
  port = 0;
  server!: net.Server;
  readonly frames: StompFrame[] = [];
  /** When set, SENDs get no RECEIPT and are not delivered (a broker that dies before storing them). */
  holdSends = false;
  /** When set, an ACK is answered with an ERROR naming its receipt, and the connection closed (the gateway's ACK_NOT_CONFIRMED). */
  errorOnAck = false;
  /** When set, a COMMIT gets no RECEIPT: the broker says ERROR "server shutting down" (no receipt-id) and closes. */
  shutdownOnCommit = false;
  private readonly conns = new Set<{ socket: net.Socket; subs: Map<string, string> }>();
  private tag = 0;

  async start(port = 0): Promise<this> {
    this.server = net.createServer((socket) => {
      const conn = { socket, subs: new Map<string, string>() };
      this.conns.add(conn);
      const parser = new StompParser({ side: 'server' });
      const send = (f: StompFrame) => { if (!socket.destroyed) socket.write(encodeFrame(f, '1.2')); };
      socket.on('error', () => {});
      socket.on('close', () => this.conns.delete(conn));
      socket.on('data', (d) => {
        for (const ev of parser.push(d)) {
          if (ev.type !== 'frame') continue;
          const f = ev.frame;
          this.frames.push(f);
          const receipt = getHeader(f, 'receipt');
          const ok = () => { if (receipt) send(frame('RECEIPT', { 'receipt-id': receipt })); };
          switch (f.command) {
            case 'CONNECT': case 'STOMP':
              parser.setVersion('1.2');
              send(frame('CONNECTED', { version: '1.2', session: `s-${this.port}`, server: 'fake' }));
              break;
            case 'SUBSCRIBE': conn.subs.set(getHeader(f, 'id')!, getHeader(f, 'destination')!); ok(); break;
            case 'UNSUBSCRIBE': conn.subs.delete(getHeader(f, 'id')!); ok(); break;
            case 'SEND':
              if (this.holdSends) break;
              ok();
              this.publish(getHeader(f, 'destination')!, getHeader(f, 'message-id')!, f.body.toString());
              break;
            case 'DISCONNECT': ok(); socket.end(); break;
            case 'ACK':
              if (!this.errorOnAck) { ok(); break; }
              send(frame('ERROR', { message: 'ACK not confirmed', ...(receipt ? { 'receipt-id': receipt } : {}) }, 'ACK_NOT_CONFIRMED'));
              socket.end();
              break;
            case 'COMMIT':
              if (!this.shutdownOnCommit) { ok(); break; }
              send(frame('ERROR', { message: 'server shutting down' }, 'SHUTTING_DOWN'));
              socket.end();
              break;
            default: ok();
          }
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  get uri(): string { return `stomp://127.0.0.1:${this.port}`; }
  get connections(): number { return this.conns.size; }

  publish(destination: string, id: string, body: string): void {
    for (const c of this.conns) for (const [sub, dest] of c.subs) {
      if (dest === destination) c.socket.write(encodeFrame(frame('MESSAGE', { destination, 'message-id': id, subscription: sub, ack: String(++this.tag) }, body), '1.2'));
    }
  }

  sent(): string[] { return this.frames.filter((f) => f.command === 'SEND').map((f) => getHeader(f, 'message-id')!); }

  /** Dies like kill -9: every socket reset, the listener gone. */
  async kill(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 3_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const brokers: FakeBroker[] = [];
const clients: FailoverClient[] = [];
async function broker(port = 0): Promise<FakeBroker> {
  const b = await new FakeBroker().start(port);
  brokers.push(b);
  return b;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const b of brokers.splice(0)) await b.kill().catch(() => undefined);
});

describe('FailoverClient', { timeout: 20_000 }, () => {
  it('kill the first server: moves to the second, re-subscribes, resends the un-receipted sends with the same message-id', async () => {
    const a = await broker();
    const b = await broker();
    const c = await connectFailover(`failover:(${a.uri},${b.uri})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=50`);
    clients.push(c);
    const events: string[] = [];
    c.on('reconnecting', (i) => events.push(`reconnecting ${i.uri}`));
    c.on('reconnected', (i) => events.push(`reconnected ${i.uri} subs=${i.resubscribed} resent=${i.resent}`));
    assert.equal(c.uri, a.uri);

    const sub = await c.subscribe('/queue/q', { id: 'mine', ack: 'client-individual', selector: "x = 'y'" });
    await c.send('/queue/q', 'one');
    const m1 = await sub.next(2_000);
    assert.equal(m1.text, 'one');

    a.holdSends = true;
    const two = c.send('/queue/q', 'two', { headers: { 'message-id': 'app-2' } });
    const three = c.send('/queue/q', 'three');
    await until('A saw both sends', () => a.sent().length === 3);
    const ids = a.sent().slice(1);
    assert.equal(ids[0], 'app-2', 'an application message-id is kept');
    await a.kill();

    await Promise.all([two, three]);
    assert.equal(c.uri, b.uri);
    assert.deepEqual(b.sent(), ids, 'resent with the same message ids, in order');
    const resub = b.frames.find((f) => f.command === 'SUBSCRIBE')!;
    assert.deepEqual(['id', 'destination', 'ack', 'selector'].map((h) => getHeader(resub, h)), ['mine', '/queue/q', 'client-individual', "x = 'y'"]);
    assert.deepEqual(events, [`reconnecting ${a.uri}`, `reconnected ${b.uri} subs=1 resent=2`]);

    // The same Subscription keeps delivering (B delivered two and three on the re-subscription).
    const got = [await sub.next(2_000), await sub.next(2_000)].map((m) => m.text);
    assert.deepEqual(got, ['two', 'three']);
    // The old delivery's ack cannot reach anyone (its connection is gone): with a receipt it
    // rejects, without one it resolves having sent nothing; a new one acks on B.
    await assert.rejects(m1.ack(), (e: unknown) => e instanceof AckNotConfirmedError && e.code === 'ACK_NOT_CONFIRMED' && !e.sent && e.messageId === m1.messageId);
    await m1.ack({ receipt: false });
    assert.equal(c.acksDropped, 1);
    assert.equal(b.frames.filter((f) => f.command === 'ACK').length, 0, 'nothing sent for the old delivery');
    const m4p = sub.next(2_000);
    await c.send('/queue/q', 'four');
    const m4 = await m4p;
    await m4.ack();
    assert.ok(b.frames.some((f) => f.command === 'ACK' && getHeader(f, 'id') === m4.ackId));
    assert.equal(c.reconnects, 1);
  });

  it('a message delivered and not acked before the connection died is marked redelivered when it comes again, even if the new broker does not mark it', async () => {
    const a = await broker();
    const b = await broker();
    const c = await connectFailover(`failover:(${a.uri},${b.uri})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=50`);
    clients.push(c);
    const sub = await c.subscribe('/queue/r', { ack: 'client-individual' });
    a.publish('/queue/r', 'id-1', 'one');
    a.publish('/queue/r', 'id-2', 'two');
    const [m1, m2] = [await sub.next(2_000), await sub.next(2_000)];
    assert.deepEqual([m1.redelivered, m2.redelivered], [false, false]);
    await m1.ack();
    await a.kill(); // the broker that delivered them died with its memory of it
    await until('on B', () => c.connected && c.uri === b.uri && b.frames.some((f) => f.command === 'SUBSCRIBE'));
    b.publish('/queue/r', 'id-2', 'two');
    b.publish('/queue/r', 'id-1', 'one');
    b.publish('/queue/r', 'id-3', 'three');
    const got = [await sub.next(2_000), await sub.next(2_000), await sub.next(2_000)].map((m) => `${m.messageId}:${m.redelivered}`);
    assert.deepEqual(got, ['id-2:true', 'id-1:false', 'id-3:false'], 'only the one held unacked when the connection died is marked');
  });

  it('D10: a lost connection drops what it buffered untaken (client ack): the application gets each once more, marked, from the new connection', async () => {
    const a = await broker();
    const b = await broker();
    const c = await connectFailover(`failover:(${a.uri},${b.uri})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=50`);
    clients.push(c);
    const discarded: DiscardedInfo[] = [];
    c.on('discarded', (i) => discarded.push(i));
    const sub = await c.subscribe('/queue/buf', { id: 'buf', ack: 'client-individual', prefetch: 5 });
    const auto = await c.subscribe('/queue/auto', { id: 'auto' });
    const before = Date.now();
    for (let i = 1; i <= 5; i++) a.publish('/queue/buf', `id-${i}`, `m${i}`);
    a.publish('/queue/auto', 'auto-1', 'a1');
    await until('five buffered', () => sub.buffered === 5 && auto.buffered === 1);
    const taken = [await sub.next(1_000), await sub.next(1_000)];
    assert.ok(taken.every((m) => m.arrivedAt >= before && m.arrivedAt <= Date.now()), 'arrivedAt: when the frame reached the client');
    await a.kill();
    await until('on B', () => c.connected && c.uri === b.uri && b.frames.some((f) => f.command === 'SUBSCRIBE' && getHeader(f, 'id') === 'buf'));
    assert.deepEqual(discarded, [{ uri: a.uri, subscription: 'buf', destination: '/queue/buf', count: 3 }]);
    assert.deepEqual([sub.buffered, sub.discarded, c.discarded], [0, 3, 3]);
    assert.equal(auto.buffered, 1, "ack:auto keeps its buffer: the broker forgot those when it sent them");
    // B (the broker that took over) redelivers the five; the client marks them (delivered unacked before).
    for (let i = 1; i <= 5; i++) b.publish('/queue/buf', `id-${i}`, `m${i}`);
    const got = await sub.collect(5, 2_000);
    assert.deepEqual(got.map((m) => `${m.messageId}:${m.redelivered}`), ['id-1:true', 'id-2:true', 'id-3:true', 'id-4:true', 'id-5:true']);
    assert.equal(await sub.tryNext(100), undefined, 'no copy from the old connection');
    await assert.rejects(taken[0]!.ack(), AckNotConfirmedError);
    await got[0]!.ack();
    assert.ok(b.frames.some((f) => f.command === 'ACK' && getHeader(f, 'id') === got[0]!.ackId), 'the new copy is acked on B');
  });

  it('D10: an ERROR that closes the connection drops its buffer at once, before the application can take from it', async () => {
    const a = await broker();
    const b = await broker();
    const c = await connectFailover(`failover:(${a.uri},${b.uri})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=50`);
    clients.push(c);
    const sub = await c.subscribe('/queue/err', { ack: 'client-individual' });
    for (let i = 1; i <= 3; i++) a.publish('/queue/err', `e-${i}`, `m${i}`);
    await until('three buffered', () => sub.buffered === 3);
    const m1 = await sub.next(1_000);
    a.errorOnAck = true;
    await assert.rejects(m1.ack(), StompServerError);
    // Right where the application goes on (before the socket's close event): nothing of that connection left.
    assert.deepEqual([sub.buffered, sub.discarded], [0, 2]);
    assert.equal(await sub.tryNext(0), undefined);
  });

  it('gives up after maxReconnectAttempts with ReconnectFailedError (pending sends and subscriptions end with it)', async () => {
    const a = await broker();
    const c = await connectFailover(`failover:(${a.uri})?maxReconnectAttempts=2&initialReconnectDelay=5`);
    clients.push(c);
    const sub = await c.subscribe('/queue/g');
    const closed = new Promise<Error | undefined>((r) => c.once('close', r));
    await a.kill();
    const sendErr = await c.send('/queue/g', 'x').then(() => undefined, (e: Error) => e);
    assert.ok(sendErr instanceof ReconnectFailedError, String(sendErr));
    assert.equal(sendErr.code, 'RECONNECT_FAILED');
    assert.equal(sendErr.attempts, 3);
    assert.ok((await closed) instanceof ReconnectFailedError);
    await assert.rejects(sub.next(100), ReconnectFailedError);
  });

  it('startup: every URI down and startupMaxReconnectAttempts=0 -> connectFailover rejects at once', async () => {
    const a = await broker();
    const uri = a.uri;
    await a.kill();
    await assert.rejects(connectFailover(`failover:(${uri})?startupMaxReconnectAttempts=0`), (e: unknown) => e instanceof ReconnectFailedError && /could not connect/.test((e as Error).message));
  });

  it('timeout bounds how long a send waits while disconnected', async () => {
    const a = await broker();
    const c = await connectFailover(`failover:(${a.uri})?timeout=150&initialReconnectDelay=20&maxReconnectDelay=20`);
    clients.push(c);
    await a.kill();
    await until('disconnected', () => !c.connected);
    const started = Date.now();
    await assert.rejects(c.send('/queue/t', 'x'), FailoverTimeoutError);
    assert.ok(Date.now() - started >= 140);
  });

  it('a send while disconnected goes out once a server is back', async () => {
    const a = await broker();
    const port = a.port;
    const c = await connectFailover(`failover:(${a.uri})?initialReconnectDelay=20&maxReconnectDelay=40`);
    clients.push(c);
    await a.kill();
    await until('disconnected', () => !c.connected);
    const p = c.send('/queue/w', 'later');
    const again = await broker(port);
    await p;
    assert.equal(again.sent().length, 1);
  });

  /** A failover client on brokers A then B, with a transaction holding one SEND on A. */
  async function txOnA() {
    const a = await broker();
    const b = await broker();
    const c = await connectFailover(`failover:(${a.uri},${b.uri})?randomize=false&initialReconnectDelay=10`);
    clients.push(c);
    const tx = c.begin();
    await tx.send('/queue/tx', 'in tx');
    return { a, b, c, tx };
  }

  it('a transaction spanning a reconnect is rolled back (TransactionRolledBackError)', async () => {
    const { a, b, c, tx } = await txOnA();
    await a.kill();
    await until('on B', () => c.uri === b.uri);
    await assert.rejects(tx.commit(), TransactionRolledBackError);
  });

  it('a COMMIT cut off by an ERROR that does not answer it ("server shutting down") has an unknown outcome, not a refusal', async () => {
    // Seen in a chaos run: the store behind an embedded gateway was stopping; the master had the
    // COMMIT and applied it, the client called it failed (StompServerError) and its messages came.
    const { a, tx } = await txOnA();
    a.shutdownOnCommit = true;
    const err = await tx.commit().then(() => assert.fail('committed'), (e: unknown) => e);
    assert.ok(!(err instanceof StompServerError), `not a refusal of the COMMIT: ${(err as Error).constructor.name}`);
    assert.ok(err instanceof TransactionRolledBackError && /outcome is unknown/.test(err.message), (err as Error).message);
  });

  it('priorityBackup: goes back to the first URI when it returns', async () => {
    const a = await broker();
    const portA = a.port;
    await a.kill();
    const b = await broker();
    const c = await connectFailover(`failover:(stomp://127.0.0.1:${portA},${b.uri})?priorityBackup=true&initialReconnectDelay=20&maxReconnectDelay=40`);
    clients.push(c);
    assert.equal(c.uri, b.uri);
    const sub = await c.subscribe('/queue/p', { id: 'p' });
    const moved = new Promise<{ priority: boolean }>((r) => c.once('reconnected', r));
    const a2 = await broker(portA);
    assert.equal((await moved).priority, true);
    assert.equal(c.uri, a2.uri);
    await until('B let go of us', () => b.connections === 0);
    await until('the subscription on A', () => a2.frames.some((f) => f.command === 'SUBSCRIBE' && getHeader(f, 'id') === 'p'));
    await c.send('/queue/p', 'on a');
    assert.equal((await sub.next(2_000)).text, 'on a');
  });
});
