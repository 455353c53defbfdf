// A master stopped (SIGTERM) while SENDs keep arriving: the replicated journal stops first
// (store.ts stop), the sessions still send, and the core still makes entries. None of them may
// be proposed any more — the core takes no step after stop, so a proposal then left a hole the
// next one tripped on ("core entry does not follow the log"): the journal failed and the store
// exited 1 instead of 0 in a rolling restart under load. In-process: three stores, real gRPC
// and RocksDB, the test playing the coordinator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestSession } from './testing';
import { bootServing, cleanupNodes, nodeAddr, testNodes, type TestNode } from './testing-group';

test('a master whose journal stops while SENDs keep arriving proposes nothing more and does not fail', async () => {
  const all = testNodes();
  const [s1] = all as [TestNode];
  let session: TestSession | undefined;
  try {
    await bootServing(all);
    session = new TestSession(nodeAddr(s1));
    await session.open();
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) ids.push(session.send('/queue/stop', `before-${i}`, { id: `ID:before-${i}` }));
    await session.receipted(ids); // nothing in flight: room for two proposals after the stop
    const r = s1.store!.repl!;
    const stopped = r.stop();
    // SENDs that reach the core after the journal began to stop, over several turns.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 20; i++) session.send('/queue/stop', `during-${turn}-${i}`, { id: `ID:during-${turn}-${i}` });
      await new Promise((res) => setImmediate(res));
    }
    await stopped;
    await new Promise((res) => setTimeout(res, 200));
    assert.equal((r as unknown as { failed: boolean }).failed, false, 'the journal failed while stopping');
  } finally {
    session?.close();
    await cleanupNodes(all);
  }
});
