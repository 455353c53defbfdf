// ReplicationLinks.warm: connections to the other members ahead of an election, taken by the
// next dial (a new master's first appends need its slaves linked: no TCP/TLS/HTTP/2 wait then).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createLogger } from '@hawser/observability';
import { ReplicationLinks, fromWire } from './links';
import type { ReplicationMessage } from '@hawser/proto';

const quiet = createLogger({ service: 'links-test', level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listener(): Promise<{ server: Server; address: string; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}`, accepted };
}

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) { if (Date.now() > end) throw new Error(`${what} not reached in ${ms} ms`); await sleep(10); }
}

describe('ReplicationLinks.warm', () => {
  it('connects to another member before any dial; not again for the same address; never to itself; the dial takes it', async () => {
    const a = await listener();
    const links = new ReplicationLinks({ id: 's1', group: 'g1', incarnation: 1, log: quiet, onMessage() {}, onHello() {} });
    const warmed = () => (links as unknown as { warmed: Map<string, unknown> }).warmed;
    try {
      links.warm('s1', a.address); // its own address: nothing
      links.warm('s2', a.address);
      await until('s2 connected ahead', () => a.accepted.length >= 1);
      links.warm('s2', a.address);
      await sleep(150);
      assert.equal(a.accepted.length, 1, 'one connection per member');
      assert.deepEqual([...warmed().keys()], ['s2']);
      links.follow('s2', a.address, 3); // s2 became our master: the dial uses the warmed client
      assert.equal(warmed().size, 0);
      links.warm('s2', a.address); // the master dialed is not warmed again beside its link
      assert.equal(warmed().size, 0);
    } finally {
      links.close();
      for (const s of a.accepted) s.destroy();
      a.server.close();
    }
  });
});

describe('fromWire', () => {
  it('an append\'s entries own their bytes: views of the received message are copied out, so the held log pins nothing else', () => {
    const read = Buffer.alloc(65536);
    read.write('entry-one', 10);
    read.write('entry-two!', 30000);
    const m = fromWire({
      kind: 'append',
      append: {
        from: 's1', epoch: 2, prevEpoch: 2, prevPosition: 9, commitPosition: 9,
        entries: [
          { epoch: 2, position: 10, data: read.subarray(10, 19), noop: false },
          { epoch: 2, position: 11, data: read.subarray(30000, 30010), noop: false },
          { epoch: 2, position: 12, data: Buffer.alloc(0), noop: true },
        ],
      },
    } as ReplicationMessage);
    assert.ok(m && m.type === 'append');
    assert.deepEqual(m.entries.map((e) => [e.position, Buffer.from(e.data).toString(), e.noop === true]), [[10, 'entry-one', false], [11, 'entry-two!', false], [12, '', true]]);
    for (const e of m.entries) assert.equal(e.data.buffer.byteLength, 19, 'one buffer of exactly the batch\'s bytes');
  });
});
