// D8 of docs/reliability.md: a consumer session the master kept after its client had gone.
//
// A gateway carries all its sessions to a master on ONE Broker.Sessions stream. When the master
// stops reading (SIGSTOP, the chaos run's pause-long) while a producer pushes, the stream's
// write buffer fills and every session on it stops reading its client until the stream drains.
// The group elects another master and the gateway moves the sessions there. Before the fix the
// drain they waited for belonged to the old stream (or never came), so the gateway never read
// those clients again; a consumer that then dropped its socket was never noticed (a paused
// socket does not see its peer's close), and the master kept its session — one consumer more
// than there were, its prefetch in flight for good. 48 SENDs of 1 MiB fill the stream here
// (200 of 64 KiB did not). Without the fix this test fails on the producer, never read again
// after the move (no RECEIPT for its next SEND); the consumer's close was seen here all the
// same (docs/reliability.md D8 says why that is not the whole story).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { adminService, grpc, CHANNEL_OPTIONS } from '@hawser/proto';
import { Cluster, checkFor } from './cluster';
import { Clients, unique } from './support';

interface DestinationInfo { name: string; consumers: number; inflight: number; depth: number }

async function destinations(address: string): Promise<DestinationInfo[]> {
  const client = new (adminService())(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  type Call = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: Error | null, r: { destinations: DestinationInfo[] }) => void) => void;
  const call = (client as unknown as { Destinations: Call }).Destinations.bind(client);
  try {
    return await new Promise((res, rej) => call({ prefix: '' }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e, r) => (e ? rej(e) : res(r.destinations))));
  } finally {
    client.close();
  }
}

const COUNT = Number(process.env.D8_COUNT ?? 48);
const SIZE = Number(process.env.D8_SIZE ?? 1024 * 1024);

describe('sessions moved off a master whose stream was full read their clients again (D8)', { timeout: 240_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'mux-backpressure-failover' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('SIGSTOP of the master under load, a new master: its clients are read again (a SEND after the move is receipted); a consumer that drops its socket leaves no session', { timeout: 200_000 }, async (t) => {
    const q = unique('/queue/d8');
    const first = await c.waitForMaster();
    const consumer = await clients.connect();
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 20 });
    const producer = await clients.connect({ receiptTimeoutMs: 60_000 });
    for (let i = 0; i < 5; i++) await producer.send(q, `before-${i}`, { persistent: true });
    for (let i = 0; i < 5; i++) await (await sub.next(10_000)).ack();

    c.pause(first.store);
    const body = Buffer.alloc(SIZE, 0x61);
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < COUNT; i++) pending.push(producer.send(q, body, { persistent: true, headers: { n: i } }).catch(() => undefined));
    const next = await c.waitForMaster({ exclude: c.idOf(first.store), aboveEpoch: first.group.epoch, deadlineMs: 30_000 });
    c.resume(first.store);
    t.diagnostic(`master ${c.idOf(first.store)} paused -> ${next.group.masterId} (epoch ${next.group.epoch})`);
    await Promise.all(pending);

    const key = (m: { headers: Readonly<Record<string, string>>; text: string }) => m.headers['n'] ?? m.text;
    // The consumer takes messages from its prefetch and drops its socket without acking, as
    // the chaos run's crashing consumer: its session must end on the master (D8: it stayed, a
    // consumer more than the workload had, its prefetch in flight for good).
    // Its whole prefetch first: the gateway then has nothing more to write to it (a write to
    // a closed socket would reveal the close), as with the workload's small messages.
    for (let i = 0; i < 20; i++) await sub.next(30_000);
    consumer.destroy();
    const address = `127.0.0.1:${next.store.grpcPort}`;
    await checkFor(20_000, 100, async () => {
      const d = (await destinations(address)).find((x) => x.name.endsWith(q.slice('/queue/'.length)));
      assert.ok(d, `queue ${q} listed`);
      assert.equal(d.consumers, 0, `consumers on ${q} after its only consumer dropped its socket (${d.inflight} in flight)`);
    });
    // Another consumer gets every message; the producer is read again (a SEND, its RECEIPT).
    const again = await clients.connect();
    const sub2 = await again.subscribe(q, { ack: 'client-individual', prefetch: 50 });
    const seen = new Set<string>();
    await producer.send(q, 'after', { persistent: true });
    await checkFor(60_000, 10, async () => {
      for (;;) {
        const m = await sub2.tryNext(50);
        if (!m) break;
        seen.add(key(m));
        await m.ack({ receipt: false });
      }
      assert.equal(seen.size, COUNT + 1, `${seen.size} of the ${COUNT + 1} SENDs made during and after the pause delivered`);
    });
  });
});
