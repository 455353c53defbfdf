// What ActiveMQ 5.x users expect from STOMP (issue 11, second list), each with a client we did
// not write: Debian's python3-stomp (tests/integration/py/activemq_compat.py) against real
// store and gateway processes — temp destinations and request/reply, a destination without a
// kind prefix, ack:client-individual on STOMP 1.0, 16 MiB messages, virtual topics and
// composite destinations (SEND and SUBSCRIBE). Then a temp queue through a master kill -9 of a replicated group.
// If python3-stomp is missing this FAILS (it is part of the suite's setup), it never skips.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, checkFor, type Gateway } from './harness';
import { Cluster } from './cluster';
import { Clients, unique } from './support';
import { STORE_ARGS } from './messaging';
import { runPythonScript } from './python';

/** Runs one scenario of activemq_compat.py; its JSON line, whatever the exit code (asserted by the caller). */
async function scenario(port: number, name: string, ...args: string[]): Promise<{ code: number | null; out: Record<string, unknown>; stderr: string }> {
  const prefix = unique('amq').replace(/[^A-Za-z0-9]/g, '');
  const r = await runPythonScript('activemq_compat.py', [name, '127.0.0.1', String(port), prefix, ...args], 240_000);
  const out = r.result !== null && typeof r.result === 'object' ? r.result as Record<string, unknown> : { unparsed: r.stdout };
  return { code: r.code, out, stderr: r.stderr };
}

describe('ActiveMQ STOMP compatibility (python3-stomp)', { timeout: 600_000 }, () => {
  const h = new Harness('amq-compat');
  let gateway: Gateway;
  before(async () => {
    ({ gateway } = await h.startBroker({ store: { args: STORE_ARGS } }));
  });
  afterEach((t) => h.reportIfFailed(t));
  after(() => h.close());

  it('temp queue and reply-to: request/reply across two connections; private to its connection; gone with it', { timeout: 90_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'request-reply');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    const o = r.out;
    // The service sees the requester's temp queue the ActiveMQ way, and replies to it as written.
    assert.match(String(o.request_reply_to), /^\/remote-temp-queue\/.+\/replies$/);
    assert.equal(o.reply_body, 'noon');
    assert.equal(o.reply_destination, '/temp-queue/replies', 'the requester reads its own name back');
    assert.equal(o.reply_correlation, 'c1');
    assert.match(String(o.stolen_error), /belongs to another connection/);
    assert.equal(o.late_receipt, true, 'a reply to a gone temp queue is dropped, not an ERROR');
    assert.deepEqual(o.again_got, [], 'a new connection\'s /temp-queue/replies is a new, empty queue');
    assert.deepEqual(o.errors, []);
  });

  it('a destination without /queue/ or /topic/ is a queue', { timeout: 60_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'default-queue');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    assert.deepEqual(r.out.bodies, ['bare', 'prefixed']);
    assert.equal((r.out.destinations as string[]).length, 1);
    assert.match((r.out.destinations as string[])[0]!, /^\/queue\/.+\.plain$/);
    assert.deepEqual(r.out.errors, []);
  });

  it('ack:client-individual on a STOMP 1.0 connection acks one message, not the ones before it', { timeout: 60_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'ack10');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    assert.deepEqual(r.out.received, ['m1', 'm2', 'm3']);
    assert.deepEqual(r.out.again, ['m1', 'm2'], 'm3 was acked alone; m1 and m2 come again');
    assert.deepEqual(r.out.redelivered, ['true', 'true']);
    assert.deepEqual(r.out.errors, []);
  });

  it('16 MiB messages (the old 4 MiB limit refused them): sent with receipts, consumed intact', { timeout: 300_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'large', '3', String(16 * 1024 * 1024));
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    assert.equal(r.out.sent, 3);
    assert.equal(r.out.received, 3);
    assert.equal(r.out.intact, true);
    assert.deepEqual(r.out.sizes, [16 * 1024 * 1024]);
  });

  it('virtual topic: each Consumer.<name> queue gets every message, shared by that queue\'s consumers', { timeout: 60_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'virtual-topic');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    const all = ['o0', 'o1', 'o2', 'o3', 'o4', 'o5'];
    assert.deepEqual(r.out.a, all, 'service A gets each message once');
    assert.deepEqual(r.out.a_split, [3, 3], 'shared round-robin by its two consumers');
    assert.deepEqual(r.out.b, all, 'service B gets its own copy of each');
    assert.match(String(r.out.b_destination), /^\/queue\/Consumer\.B\.VirtualTopic\./);
    assert.deepEqual(r.out.errors, []);
  });

  it('composite SUBSCRIBE: one consumer on each part under one subscription id; a client-mode ACK covers every part; UNSUBSCRIBE ends them all', { timeout: 60_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'composite-subscribe');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    const [qa, qb, tc] = r.out.names as string[];
    assert.deepEqual(r.out.got, ['a1', 'ab', 'ab', 'b1', 't1'], 'each part\'s messages, a composite SEND\'s copy from each queue part');
    assert.deepEqual(r.out.subscriptions, ['cs'], 'every MESSAGE names the client\'s subscription');
    assert.deepEqual(r.out.destinations, [qa, qb, tc].sort(), 'each MESSAGE names the part it came from');
    assert.deepEqual(r.out.after_unsubscribe, [], 'no part is left after UNSUBSCRIBE');
    assert.deepEqual(r.out.left, ['after'], 'the one ACK acked the messages of both queue parts');
    assert.deepEqual(r.out.errors, []);
  });

  it('composite destination: one SEND to two queues and a topic reaches all three, one receipt', { timeout: 60_000 }, async (t) => {
    const r = await scenario(gateway.stompPort, 'composite');
    t.diagnostic(JSON.stringify(r.out));
    assert.equal(r.code, 0, `${JSON.stringify(r.out)} ${r.stderr}`);
    const got = r.out.got as Record<string, string[]>;
    assert.equal(Object.keys(got).length, 3);
    for (const [d, bodies] of Object.entries(got)) assert.deepEqual(bodies, ['to all three'], d);
    const dests = r.out.destinations as Record<string, string[]>;
    for (const [d, seen] of Object.entries(dests)) assert.deepEqual(seen, [d], 'each copy names its own destination');
    assert.equal(r.out.receipt, true);
    assert.deepEqual(r.out.errors, []);
  });
});

// Failover (docs/architecture.md, "Destinations"): temp destinations live in the master's
// memory. The gateway moves a live connection's session to the new master, where the session
// opens with the same connection id and replays its subscriptions: the temp queue is made again
// (empty) and request/reply goes on on the same connections.
describe('temp queue through a master kill -9 (replicated group, separate gateway)', { timeout: 180_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'amq-temp-failover' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('the requester\'s temp queue is made again on the new master; replies reach it', { timeout: 120_000 }, async (t) => {
    const { store: master, group: g0 } = await c.waitForMaster();
    const requester = await clients.connect({ receiptTimeoutMs: 30_000 });
    const service = await clients.connect({ receiptTimeoutMs: 30_000 });
    const replies = await requester.subscribe('/temp-queue/replies', { ack: 'auto' });
    const work = unique('/queue/svc');
    const inbox = await service.subscribe(work, { ack: 'auto' });
    await requester.send(work, 'before', { persistent: true, headers: { 'reply-to': '/temp-queue/replies' } });
    const req1 = await inbox.next(10_000);
    const replyTo = req1.headers['reply-to']!;
    assert.match(replyTo, /^\/remote-temp-queue\//);
    await service.send(replyTo, 'answer-1');
    assert.equal((await replies.next(10_000)).text, 'answer-1');

    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 20_000 });
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId}`);
    // Both sessions move with the topology; the service's reply goes to the same name.
    await checkFor(30_000, 200, async () => {
      await service.send(replyTo, 'answer-2');
      const m = await replies.tryNext(1_000);
      assert.equal(m?.text, 'answer-2');
    });
  });
});
