// Scenario 3: bad input over raw TCP sockets. Each case must get an ERROR frame whose
// `message` header says what was wrong, then a closed connection — while a well-behaved
// client on the same gateway stays connected and working, and the gateway process lives.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, checkFor, type Gateway } from './harness';
import { Clients, RawStomp, unique, pidAlive } from './support';
import type { StompClient, Subscription } from '@hawser/client';

const MAX_FRAME = 4096;
const MAX_HEADERS = 20;

interface Case {
  name: string;
  /** Send CONNECT first (most bad input comes from a connected client). */
  connected: boolean;
  bytes: () => string | Buffer;
  /** What the ERROR frame's message header must say. */
  message: RegExp;
}

const cases: Case[] = [
  {
    name: 'malformed frame (a header line without a colon)',
    connected: true,
    bytes: () => 'SEND\ndestination:/queue/bad\nthis-line-has-no-colon\n\nbody\0',
    message: /header line without ':'|malformed/i,
  },
  {
    name: 'unknown command',
    connected: true,
    bytes: () => 'FROBNICATE\nfoo:bar\n\n\0',
    message: /unknown command/i,
  },
  {
    name: 'unknown command instead of CONNECT',
    connected: false,
    bytes: () => 'HELLO\n\n\0',
    message: /unknown command/i,
  },
  {
    name: `frame over --limits.maxFrameSize (${MAX_FRAME})`,
    connected: true,
    bytes: () => `SEND\ndestination:/queue/big\ncontent-length:${MAX_FRAME * 2}\n\n${'x'.repeat(MAX_FRAME * 2)}\0`,
    message: /maxFrameSize|too large/i,
  },
  {
    name: `too many headers (over --limits.maxHeaders ${MAX_HEADERS})`,
    connected: true,
    bytes: () => `SEND\ndestination:/queue/h\n${Array.from({ length: MAX_HEADERS * 3 }, (_, i) => `h${i}:v`).join('\n')}\n\nx\0`,
    message: /maxHeaders|too many headers/i,
  },
  {
    name: 'SEND without destination',
    connected: true,
    bytes: () => 'SEND\ncontent-type:text/plain\n\nhello\0',
    message: /destination/i,
  },
  {
    name: 'ACK for an unknown id',
    connected: true,
    bytes: () => 'ACK\nid:no-such-delivery-42\n\n\0',
    message: /unknown/i,
  },
];

describe('bad input', { timeout: 120_000 }, () => {
  const h = new Harness('bad-input');
  let gateway: Gateway;
  let witness: StompClient;
  let witnessSub: Subscription;
  const witnessQueue = unique('/queue/witness');
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    ({ gateway } = await h.startBroker({
      gateway: { args: ['--limits.maxFrameSize', String(MAX_FRAME), '--limits.maxHeaders', String(MAX_HEADERS)] },
    }));
    witness = await clients.connect();
    witnessSub = await witness.subscribe(witnessQueue);
  });
  afterEach((t) => h.reportIfFailed(t));
  after(async () => {
    await clients.closeAll();
    await h.close();
  });

  /** The well-behaved client still round-trips a message, and the gateway still runs. */
  async function witnessWorks(tag: string): Promise<void> {
    assert.ok(pidAlive(gateway.pid), 'the gateway process is alive');
    assert.equal(witness.connected, true, 'the other client is still connected');
    await witness.send(witnessQueue, tag);
    assert.equal((await witnessSub.next(5000)).text, tag);
  }

  for (const c of cases) {
    it(`${c.name} -> ERROR with a message, connection closed; others unaffected`, { timeout: 15_000 }, async () => {
      const raw = await RawStomp.open(gateway.stompPort);
      try {
        if (c.connected) await raw.handshake();
        raw.write(c.bytes());
        const err = await raw.expectErrorAndClose(5000);
        assert.ok(err.headers['message'], `ERROR frame has a message header: ${JSON.stringify(err)}`);
        assert.match(err.headers['message']!, c.message);
      } finally {
        raw.destroy();
      }
      await witnessWorks(`after ${c.name}`);
    });
  }

  it('--limits.maximumConnections exceeded -> ERROR and close; a freed slot is usable again', { timeout: 20_000 }, async () => {
    const limited = await h.startGateway(h.stores[0]!, { id: 'limited', args: ['--limits.maximumConnections', '2'] });
    const local = new Clients(() => limited.stompUri);
    try {
      const a = await local.connect();
      await local.connect();
      const raw = await RawStomp.open(limited.stompPort);
      try {
        raw.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
        const err = await raw.expectErrorAndClose(5000);
        assert.match(err.headers['message'] ?? '', /maximum connections/i);
      } finally {
        raw.destroy();
      }
      assert.ok(pidAlive(limited.pid));
      const q = unique('/queue/limited');
      await a.send(q, 'still-working');
      const s = await a.subscribe(q);
      assert.equal((await s.next(5000)).text, 'still-working');
      await a.disconnect();
      // The slot frees when the gateway has seen the close.
      const c3 = await checkFor(5000, 100, () => local.connect());
      assert.equal(c3.connected, true);
    } finally {
      await local.closeAll();
    }
    await witnessWorks('after maximumConnections');
  });
});
