// Replicated group, "Done means" (3): a STOMP client connected to a gateway keeps its TCP
// connection through a `kill -9` of the master while it produces (with receipts) and
// consumes. It loses nothing: every receipted message is consumed at least once, a second
// copy only ever comes with redelivered:true (an unacked delivery coming again, as in
// ActiveMQ's failover), every SEND settles with a receipt (the gateway resends un-receipted
// SENDs to the new master with the same message ids) and the socket never closes.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { TransactionRolledBackError } from '@hawser/client';
import { Cluster, checkFor } from './cluster';
import { httpGet } from './harness';
import { Clients, unique } from './support';
import { throughMasterKill } from './scenarios';

describe('replicated group: a gateway client through a master kill -9', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'repl-conn' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('keeps its TCP connection, every SEND is receipted, every receipted message consumed', { timeout: 120_000 }, async (t) => {
    const client = await clients.connect({ receiptTimeoutMs: 30_000 });
    await throughMasterKill(t, c, client);
  });
});

// A consume-and-produce transaction open across a master kill -9: the gateway cannot replay
// its ACK (it names a delivery of the dead master's session), so it rolls the whole
// transaction back, as ActiveMQ's failover transport does: the COMMIT fails with
// TRANSACTION_ROLLED_BACK, the consumed message comes again and the produced one was never
// stored — no half-applied transaction.
describe('replicated group: a transaction open across a master kill -9', { timeout: 120_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'repl-tx' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('is rolled back whole: COMMIT fails with TransactionRolledBackError, the input comes again, the output was never stored', async (t) => {
    const input = unique('/queue/tx-in');
    const output = unique('/queue/tx-out');
    const { store: master, group: g0 } = await c.waitForMaster();
    const producer = await clients.connect();
    await producer.send(input, 'work-1', { persistent: true });

    const worker = await clients.connect({ receiptTimeoutMs: 30_000 });
    worker.on('error', () => undefined);
    const sub = await worker.subscribe(input, { ack: 'client-individual' });
    const m = await sub.next(10_000);
    assert.equal(m.text, 'work-1');
    const tx = worker.begin();
    await tx.ack(m);
    await tx.send(output, 'result-of-work-1', { persistent: true });

    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 15_000 });
    // The gateway moves the session when the topology names the new master.
    await checkFor(15_000, 50, async () => {
      const { body } = await httpGet(c.gateway.httpPort, '/metrics');
      assert.match(body, /^hawser_gateway_transactions_rolled_back_total(\{[^}]*\})? 1$/m);
    });
    const err = await tx.commit().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TransactionRolledBackError, `COMMIT must fail with TransactionRolledBackError, got ${String(err)}`);
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId}: ${(err as Error).message}`);

    const again = await clients.connect();
    const inSub = await again.subscribe(input, { ack: 'client-individual' });
    const redelivered = await inSub.next(10_000);
    assert.equal(redelivered.text, 'work-1');
    assert.equal(redelivered.redelivered, true);
    const outSub = await again.subscribe(output, { ack: 'auto' });
    assert.equal(await outSub.tryNext(1500), undefined, 'the rolled-back SEND was not stored');
  });
});
