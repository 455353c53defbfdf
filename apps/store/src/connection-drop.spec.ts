// A slave's replication connection that drops, or stalls, while its master lives (a keepalive ping held in
// TCP's retransmission backoff by a flapping link, seen in a chaos run: the only slave of a
// group with one member cut off reported the new master lost 120 ms after electing it, and the
// group elected again). The slave redials at once and reports nothing when that works; when the
// redial is refused too (a killed master), it reports at once. A new stream on a connection that
// stalled (TCP in retransmission backoff) gets no answer to its Hello and is redialed on a new
// connection well before the master timeout. In-process: three stores over
// real gRPC and RocksDB, the slaves dialing the master through a TCP relay the test can cut;
// the slaves' silence timeout is beyond the test, so only their links can make them report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { checkFor } from './testing';
import { bootNode, cleanupNodes, countMasterLost, electServing, nodeAddr, sendReceipted, testNodes, type TestNode } from './testing-group';

/**
 * A TCP relay on 127.0.0.1 to `target`: drop() closes every relayed connection; stall() stops
 * forwarding on them without closing them (new ones are relayed); close() stops listening too.
 */
async function relay(target: string): Promise<{ address: string; connections: () => number; drop(): void; stall(): void; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((front) => {
    const back = connect(port, host);
    const pair: [Socket, Socket] = [front, back];
    pairs.add(pair);
    const end = () => { pairs.delete(pair); front.destroy(); back.destroy(); };
    front.on('error', end).on('close', end);
    back.on('error', end).on('close', end);
    front.pipe(back);
    back.pipe(front);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const drop = () => { for (const [f, b] of [...pairs]) { f.destroy(); b.destroy(); } pairs.clear(); };
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => pairs.size,
    drop,
    stall: () => { for (const [f, b] of pairs) { f.unpipe(b); b.unpipe(f); f.pause(); b.pause(); } },
    close: () => new Promise<void>((r) => { drop(); server.close(() => r()); }),
  };
}

async function withRelayedGroup(fn: (s1: TestNode, cut: Awaited<ReturnType<typeof relay>>, lost: { n: number }, s2: TestNode) => Promise<void>, slaveTimeoutMs = 60_000): Promise<void> {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  s2.extra = s3.extra = ['--replication.masterTimeoutMs', String(slaveTimeoutMs)];
  let r: Awaited<ReturnType<typeof relay>> | undefined;
  try {
    for (const n of all) await bootNode(n);
    r = await relay(nodeAddr(s1));
    await electServing(1, s1, all, r.address);
    const lost = countMasterLost([s2, s3]);
    await checkFor('both slaves linked through the relay', () => s1.store!.repl!.links.acceptedPeers().length === 2 && r!.connections() >= 2).catch((e: Error) => { throw new Error(`${e.message}: accepted ${s1.store!.repl!.links.acceptedPeers().length}, relayed connections ${r!.connections()}`); }); // a connection per link
    await sendReceipted(s1, '/queue/drop', 'before');
    await fn(s1, r, lost, s2);
  } finally {
    await r?.close();
    await cleanupNodes(all);
  }
}

test('a replication connection that drops while the master lives is redialed at once and not reported', () => withRelayedGroup(async (s1, cut, lost) => {
  const accepted = () => s1.store!.repl!.links.acceptedPeers().length;
  cut.drop();
  await checkFor('the slaves redialed', () => cut.connections() >= 2 && accepted() === 2, 10_000);
  await sendReceipted(s1, '/queue/drop', 'after'); // a slave's ack came over a new connection
  await new Promise((r) => setTimeout(r, 500)); // a report would have come within ms of the drop
  assert.equal(lost.n, 0, 'a slave reported a living master lost');
  assert.equal(s1.store!.serving, true);
}));

test('a dropped connection whose redial is refused (the master gone) is reported at once', () => withRelayedGroup(async (_s1, cut, lost) => {
  await cut.close(); // drops every connection and refuses new ones, as a killed master's port does
  await checkFor('both slaves reported the master lost', () => lost.n >= 2, 10_000);
}));

test('a new stream on a stalled connection gets no answer to its Hello and is redialed on a new connection before the master timeout', () => withRelayedGroup(async (s1, cut, _lost, s2) => {
  const links = s2.store!.repl!.links;
  cut.stall(); // every relayed connection: the master hears neither slave, nothing commits
  // s2's stream ends (here: cancelled); its retry goes out on the same, stalled connection.
  (links as unknown as { dial: { call: { cancel(): void } } }).dial.call.cancel();
  // Its Hello goes unanswered for answerMs (a quarter of s2's 4 s master timeout), then s2 dials a
  // new connection: the master hears it and a SEND commits with s2's acknowledgement.
  await checkFor('s2 redialed on a new connection', () => links.unanswered >= 1, 10_000);
  await sendReceipted(s1, '/queue/drop', 'after-stall');
  assert.match(await s2.registry!.metrics(), /hawser_store_replication_hellos_unanswered_total(\{[^}]*\})? [1-9]/);
}, 4000));
