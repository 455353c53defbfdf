// D9 of docs/reliability.md, end to end: a consumer that takes a few messages, acks half of
// them and drops its socket (the chaos workload's `c-q-crash`), round after round, while
// another consumer takes the same queue steadily — with no master change. Whatever the crashing
// consumer had not acked comes back to the queue; every copy after a message's first delivery
// must say redelivered:true, whichever consumer and whichever way in it gets (the separate
// gateway over gRPC, the master's embedded gateway in-process, a slave's embedded gateway over
// gRPC). Nothing receipted may be missing at the end.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { StompClient, Subscription } from '@hawser/client';
import { Cluster, checkFor } from './cluster';
import { Clients, unique } from './support';

interface Take { id: string; by: string; redelivered: boolean; count: number | undefined }

describe('D9: copies after a crashing consumer are marked redelivered (no master change)', { timeout: 240_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  // A 4 s ZooKeeper session (the most a 200 ms tick grants): the test is about copies with no
  // master change, and on a loaded machine a 1 s session expires now and then (an election).
  before(async () => { c = await Cluster.start({ name: 'd9-crash-consumer', embeddedGateways: true, gateways: 1, sessionTimeoutMs: 4000 }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('rounds of take, ack half, drop the socket through each way in: every second copy is marked', { timeout: 200_000 }, async (t) => {
    const q = unique('/queue/d9');
    const { store: master, group: g0 } = await c.waitForMaster();
    const slave = c.stores.find((s) => s !== master)!;
    const ways: Array<[string, string]> = [
      ['gateway', c.gateway.stompUri],
      ['master-embedded', master.stompUri],
      ['slave-embedded', slave.stompUri],
    ];
    const takes: Take[] = [];
    const receipted = new Set<string>();
    let producing = true;
    let sent = 0;

    // A producer through the separate gateway, receipted persistent SENDs, 4 in flight.
    const producer = await clients.connect({ receiptTimeoutMs: 30_000 });
    const produce = (async () => {
      const inflight = new Set<Promise<void>>();
      while (producing) {
        const id = `m-${sent++}`;
        const p: Promise<void> = producer.send(q, id, { persistent: true }).then(() => { receipted.add(id); }, () => undefined).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 4) await Promise.race(inflight);
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(inflight);
    })();

    // The steady consumer on the separate gateway (the workload's c-q-gw): acks each with a
    // receipt; if its connection drops it connects again (what it held comes back, marked).
    let steadyRunning = true;
    let steadyConnections = 0;
    const steady = (async () => {
      while (steadyRunning) {
        let client: StompClient;
        try {
          client = await clients.connect();
          steadyConnections++;
          const sub = await client.subscribe(q, { ack: 'client-individual', prefetch: 20 });
          while (steadyRunning && client.connected) {
            const m = await sub.tryNext(200).catch(() => undefined);
            if (!m) continue;
            takes.push({ id: m.text, by: `steady-${steadyConnections}`, redelivered: m.redelivered, count: m.deliveryCount });
            await m.ack({ receipt: true }).catch(() => undefined);
          }
        } catch { /* connect or subscribe failed: again */ }
        if (steadyRunning) await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // The crashing consumer: 5-30 messages, the first half acked (receipted), then the socket dropped.
    let rounds = 0;
    let seed = 13;
    const rand = (lo: number, hi: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return lo + (seed % (hi - lo + 1)); };
    for (let round = 0; round < 36; round++) {
      const [way, uri] = ways[round % ways.length]!;
      let client: StompClient | undefined;
      let sub: Subscription;
      try {
        client = await clients.connect({}, uri);
        sub = await client.subscribe(q, { ack: 'client-individual', prefetch: 20 });
      } catch (e) {
        t.diagnostic(`round ${round} ${way}: connect or subscribe failed (${(e as Error).message})`);
        client?.destroy();
        continue;
      }
      const crashAt = rand(5, 30);
      let n = 0;
      const deadline = Date.now() + 10_000;
      while (n < crashAt && Date.now() < deadline && client.connected) {
        const m = await sub.tryNext(200).catch(() => undefined);
        if (!m) continue;
        n++;
        takes.push({ id: m.text, by: `crash-${round}-${way}`, redelivered: m.redelivered, count: m.deliveryCount });
        if (n >= crashAt) break;
        if (n <= crashAt / 2) await m.ack({ receipt: true }).catch(() => undefined);
      }
      client.destroy();
      rounds++;
      await new Promise((r) => setTimeout(r, 100));
    }
    producing = false;
    await produce;

    // Drain: every receipted message taken at least once.
    const seen = () => new Set(takes.map((x) => x.id));
    await checkFor(60_000, 200, () => {
      const s = seen();
      const missing = [...receipted].filter((id) => !s.has(id));
      if (missing.length) throw new Error(`${missing.length} receipted messages not delivered yet, e.g. ${missing.slice(0, 5).join(', ')}`);
      return true;
    });
    await new Promise((r) => setTimeout(r, 1000)); // copies still on their way come now
    steadyRunning = false;
    await steady;

    const g1 = await c.group();
    assert.equal(g1.epoch, g0.epoch, 'no master change during the test (D1 marks every copy after one)');

    const byId = new Map<string, Take[]>();
    for (const x of takes) {
      const l = byId.get(x.id) ?? [];
      l.push(x);
      byId.set(x.id, l);
    }
    const unmarked: string[] = [];
    let again = 0;
    for (const [id, l] of byId) {
      if (l.length < 2) continue;
      again += l.length - 1;
      // Only a message's first delivery may be unmarked (by count: the steady consumer's buffer
      // may hold a first copy it takes after a later one was taken elsewhere).
      const u = l.filter((x) => !x.redelivered);
      if (u.length > 1) unmarked.push(`${id}: ${l.map((x) => `${x.by}${x.redelivered ? ' (marked)' : ''}`).join(' -> ')}`);
    }
    t.diagnostic(`${sent} sent, ${receipted.size} receipted, ${takes.length} taken, ${again} copies again over ${rounds} crash rounds, steady consumer connections ${steadyConnections}, master ${c.idOf(master)} epoch ${g0.epoch}`);
    assert.ok(again > 0, 'the crashing consumer left messages to come again');
    assert.deepEqual(unmarked, [], 'every copy after the first is marked redelivered');
  });
});
