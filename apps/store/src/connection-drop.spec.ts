// A slave's replication connection that drops while its master lives (a keepalive ping held in
// TCP's retransmission backoff by a flapping link, seen in a chaos run: the only slave of a
// group with one member cut off reported the new master lost 120 ms after electing it, and the
// group elected again). The slave redials at once and reports nothing when that works; when the
// redial is refused too (a killed master), it reports at once. In-process: three stores over
// real gRPC and RocksDB, the slaves dialing the master through a TCP relay the test can cut;
// the slaves' silence timeout is beyond the test, so only their links can make them report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { checkFor } from './testing';
import { bootNode, cleanupNodes, countMasterLost, electServing, nodeAddr, sendReceipted, testNodes, type TestNode } from './testing-group';

/** A TCP relay on 127.0.0.1 to `target`: drop() closes every relayed connection; close() stops listening too. */
async function relay(target: string): Promise<{ address: string; connections: () => number; drop(): void; close(): Promise<void> }> {
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
    close: () => new Promise<void>((r) => { drop(); server.close(() => r()); }),
  };
}

async function withRelayedGroup(fn: (s1: TestNode, cut: Awaited<ReturnType<typeof relay>>, lost: { n: number }) => Promise<void>): Promise<void> {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  s2.extra = s3.extra = ['--replication.masterTimeoutMs', '60000'];
  let r: Awaited<ReturnType<typeof relay>> | undefined;
  try {
    for (const n of all) await bootNode(n);
    r = await relay(nodeAddr(s1));
    await electServing(1, s1, all, r.address);
    const lost = countMasterLost([s2, s3]);
    await checkFor('both slaves linked through the relay', () => s1.store!.repl!.links.acceptedPeers().length === 2 && r!.connections() >= 1); // one process: grpc-js shares the slaves' connection
    await sendReceipted(s1, '/queue/drop', 'before');
    await fn(s1, r, lost);
  } finally {
    await r?.close();
    await cleanupNodes(all);
  }
}

test('a replication connection that drops while the master lives is redialed at once and not reported', () => withRelayedGroup(async (s1, cut, lost) => {
  const accepted = () => s1.store!.repl!.links.acceptedPeers().length;
  cut.drop();
  await checkFor('the slaves redialed', () => cut.connections() >= 1 && accepted() === 2, 10_000);
  await sendReceipted(s1, '/queue/drop', 'after'); // a slave's ack came over a new connection
  await new Promise((r) => setTimeout(r, 500)); // a report would have come within ms of the drop
  assert.equal(lost.n, 0, 'a slave reported a living master lost');
  assert.equal(s1.store!.serving, true);
}));

test('a dropped connection whose redial is refused (the master gone) is reported at once', () => withRelayedGroup(async (_s1, cut, lost) => {
  await cut.close(); // drops every connection and refuses new ones, as a killed master's port does
  await checkFor('both slaves reported the master lost', () => lost.n >= 2, 10_000);
}));
