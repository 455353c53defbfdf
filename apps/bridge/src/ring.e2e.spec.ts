// A ring of three groups (g1 - g2 - g3 - g1), one bridge process per link. Nothing loops:
// hawser-visited keeps a message out of groups it left, networkTTL bounds the hops.
//   networkTTL 1 (default): each publication reaches every group once, by the direct link.
//   networkTTL 2: a copy may also go the long way round (g1 -> g3 -> g2); the target's
//   duplicate check on the message id drops whichever copy comes second (every persistent
//   publication's id is journaled, also when only non-durable subscribers take it).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { checkFor, exactlyOnce, TestClient, TestEnv, type Proc } from './testkit';

const env = new TestEnv();
const stores: Record<string, Proc & { address: string }> = {};
let bridges: Proc[] = [];
const clients: TestClient[] = [];
const client = (address: string, name: string) => { const c = new TestClient(address, name); clients.push(c); return c; };

async function startRing(ttl: number): Promise<void> {
  await Promise.all(bridges.map((b) => b.stop()));
  bridges = [];
  for (const [x, y] of [['g1', 'g2'], ['g2', 'g3'], ['g3', 'g1']] as const) {
    const p = env.bridge(`${x}${y}-ttl${ttl}`, ['--groups', `${x},${y}`, '--stores', `${x}=${stores[x]!.address},${y}=${stores[y]!.address}`, '--zk.address=', '--networkTTL', String(ttl)]);
    bridges.push(await p.start());
  }
}

/** Subscribers on `topic` in every group, and publications from g1 and g3; returns what each got. */
async function publishAround(topic: string, n: number): Promise<{ sent: string[]; got: string[][] }> {
  const subs: Array<[TestClient, string]> = [];
  for (const g of ['g1', 'g2', 'g3']) {
    const c = client(stores[g]!.address, `sub-${g}-${topic}`);
    subs.push([c, await c.subscribe(topic)]);
  }
  const p1 = client(stores.g1!.address, `pub-g1-${topic}`);
  const p3 = client(stores.g3!.address, `pub-g3-${topic}`);
  // Demand propagates within a few polls; probe until every group sees both publishers.
  await checkFor(15_000, 100, async () => {
    const id = `probe-${Date.now()}`;
    await p1.send(topic, id, 'p');
    await p3.send(topic, `${id}-3`, 'p');
    await new Promise((r) => setTimeout(r, 150));
    for (const [c, s] of subs) { assert.ok(c.ids(s).includes(id)); assert.ok(c.ids(s).includes(`${id}-3`)); }
  });
  const sent: string[] = [];
  for (let i = 0; i < n; i++) {
    // ids are unique per topic: the stores' duplicate check spans destinations
    const a = `r1-${topic}-${i}`;
    const b = `r3-${topic}-${i}`;
    sent.push(a, b);
    await p1.send(topic, a, 'x');
    await p3.send(topic, b, 'x');
  }
  const mine = (c: TestClient, s: string) => c.ids(s).filter((x) => x.startsWith('r'));
  await checkFor(15_000, 50, () => { for (const [c, s] of subs) assert.ok(mine(c, s).length >= sent.length, `${topic}: ${subs.map(([c2, s2]) => JSON.stringify(exactlyOnce(sent, mine(c2, s2)))).join(" ")}`); });
  const counts = () => subs.map(([c, s]) => mine(c, s).length).join(',');
  // Long-way copies may still trickle in; a loop would never stop delivering.
  let last = '';
  await checkFor(10_000, 500, () => { const now = counts(); if (now !== last) { last = now; throw new Error(`still delivering: ${now}`); } });
  const settled = counts();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(counts(), settled, 'the ring went quiet');
  return { sent, got: subs.map(([c, s]) => mine(c, s)) };
}

before(async () => {
  const [a, b, c] = await Promise.all([env.store('g1'), env.store('g2'), env.store('g3')]);
  Object.assign(stores, { g1: a, g2: b, g3: c });
  await startRing(1);
});

afterEach((t) => { if ((t as { passed?: boolean }).passed === false) process.stderr.write(env.logs() + '\n'); });

after(async () => {
  for (const c of clients) c.close();
  await env.close();
});

test('ring of 3, networkTTL 1: topic publications reach every group exactly once, no loop', async () => {
  const { sent, got } = await publishAround('/topic/ring1', 25);
  for (const ids of got) assert.deepEqual(exactlyOnce(sent, ids), { lost: [], duplicates: [], unknown: [] });
});

test('ring of 3: a queue message produced in g1 reaches the only consumer (in g3) once', async () => {
  const p = client(stores.g1!.address, 'qp');
  const sent = Array.from({ length: 40 }, (_, i) => `rq-${i}`);
  for (const id of sent) await p.send('/queue/ring', id, id);
  const c = client(stores.g3!.address, 'qc');
  const s = await c.subscribe('/queue/ring');
  await checkFor(15_000, 50, () => assert.equal(c.ids(s).length, sent.length));
  await new Promise((r) => setTimeout(r, 700));
  assert.deepEqual(exactlyOnce(sent, c.ids(s)), { lost: [], duplicates: [], unknown: [] });
});

test('ring of 3, networkTTL 2: no loop, each publication delivered once per group (the duplicate check drops long-way copies)', async () => {
  await startRing(2);
  const { sent, got } = await publishAround('/topic/ring2', 25);
  for (const ids of got) assert.deepEqual(exactlyOnce(sent, ids), { lost: [], duplicates: [], unknown: [] });
});
