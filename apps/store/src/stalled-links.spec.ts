// A replication stream that stalls without closing (TCP backing off on a link that drops
// packets now and then, one direction flowing and the other not): the master ends it, the
// slave reports the master lost at once and redials. In-process: three stores over real gRPC
// and RocksDB, the test playing the coordinator; the slaves' silence timeout is set far beyond
// the test, so only the ended streams can make them report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFor } from './testing';
import { bootServing, cleanupNodes, countMasterLost, sendReceipted, testNodes, type TestNode } from './testing-group';

/**
 * A serving group of three whose slaves' own silence timeout is beyond the test: `fn` gets the
 * nodes and a count of the slaves' masterLost reports. The master's timeout is 1.5 s: it skips
 * its check after a stall of its own event loop of half that (this process runs all three
 * stores and the test, and a CI machine runs many such processes at once).
 */
async function withGroup(fn: (s1: TestNode, s2: TestNode, lost: { n: number }) => Promise<void>): Promise<void> {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  s1.extra = ['--replication.masterTimeoutMs', '1500'];
  s2.extra = s3.extra = ['--replication.masterTimeoutMs', '60000'];
  try {
    await bootServing(all);
    await fn(s1, s2, countMasterLost([s2, s3]));
  } finally {
    await cleanupNodes(all);
  }
}

test('a master that hears nothing on a slave\'s stream for the master timeout ends it: the slave reports the master lost and redials', () => withGroup(async (s1, s2, lost) => {
  const redials = () => s1.store!.repl!.links.connectedPeers().length;
  await checkFor('both slaves linked', () => redials() === 2);
  // Idle but healthy: the slaves answer every heartbeat, nothing is cut.
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(s1.store!.repl!.stalledStreams, 0, 'a healthy idle stream was ended');
  // s2's messages to the master stop (its Hello on a new stream still goes: the redial works).
  s2.store!.repl!.links.send = () => {};
  await checkFor('s2 reported the master lost', () => lost.n >= 1, 30_000);
  assert.equal(lost.n, 1, 'only the silent slave reports');
  assert.ok(s1.store!.repl!.stalledStreams >= 1);
  assert.match(await s1.registry!.metrics(), /hawser_store_replication_streams_stalled_total(\{[^}]*\})? [1-9]/);
  // s3 kept its stream and the master kept serving: one slave is a quorum's worth.
  assert.equal(s1.store!.serving, true);
  assert.equal(s1.store!.repl!.epoch, 1);
}));

test('a slave that answers heartbeats but takes none of the waiting entries for the master timeout has its stream ended; one in step is left alone', () => withGroup(async (s1, s2, lost) => {
  await sendReceipted(s1, '/queue/stall', 'in-step');
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(s1.store!.repl!.stalledStreams, 0, 'a slave in step was cut');
  // s2's acknowledgements stop moving: it still answers, always with the position it had.
  const links = s2.store!.repl!.links;
  const send = links.send.bind(links);
  const frozen = s1.store!.repl!.replica.lastPosition;
  links.send = (to, m) => send(to, m.type === 'ack' ? { ...m, received: Math.min(m.received, frozen), persisted: Math.min(m.persisted, frozen) } : m);
  await sendReceipted(s1, '/queue/stall', 'waits-for-s2'); // committed with s3
  // The master's own timer ends s2's stream once the master timeout has passed, whichever
  // state the master keeps s2 in meanwhile: it resends from s2's last ack every heartbeat, so
  // s2 is mostly in 'probe' (a check for 'replicate' alone missed it in about two runs of three).
  const r = s1.store!.repl!;
  await checkFor('s2 ended as stuck', () => r.stalledStreams >= 1, 30_000).catch((e: Error) => {
    throw new Error(`${e.message} (accepted ${JSON.stringify(r.links.acceptedPeers())}; s2 ${JSON.stringify(r.replica.slaveProgress('s2'))}, last position ${r.replica.lastPosition}, serving ${r.serving})`);
  });
  await checkFor('s2 reported the master lost', () => lost.n >= 1, 30_000);
  assert.equal(lost.n, 1, 'only the stuck slave reports');
  assert.ok(s1.store!.repl!.stalledStreams >= 1);
  assert.equal(s1.store!.serving, true);
}));
