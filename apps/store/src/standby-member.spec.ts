// A member beyond the master's replicas-1 slaves (a group growing: a fourth store registered
// beside three that say --replicas 3, docs/operations.md) is assigned slave but not replicated
// to. It must not report a live master lost (docs/reliability.md D19: with one other member down
// its report alone started an election), and it must still report a master that dies.
// In-process: four stores over real gRPC and RocksDB, the test playing the coordinator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFor } from './testing';
import { assign, bootNode, bootServing, cleanupNodes, countMasterLost, nodeStatus, sendReceipted, stopNode, testNodes } from './testing-group';

test('a member the master does not replicate to hears it live (no masterLost), and reports it once it is gone', async () => {
  const all = testNodes([], ['s1', 's2', 's3', 's4']);
  const [s1, s2, s3, s4] = all as [typeof all[0], typeof all[0], typeof all[0], typeof all[0]];
  try {
    await bootServing(all); // s1 master of epoch 1 with --replicas 3: it takes s2 and s3
    const repl = s1.store!.repl!;
    assert.deepEqual([repl.replica.slaveProgress('s2') !== undefined, repl.replica.slaveProgress('s3') !== undefined, repl.replica.slaveProgress('s4')], [true, true, undefined]);
    await checkFor('s4 linked to the master', () => repl.links.acceptedPeers().includes('s4'));
    const lost = countMasterLost([s4]);
    await sendReceipted(s1, '/queue/standby', 'one');
    // Six master timeouts (500 ms each): before the heartbeats, s4 reported every timeout.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(lost.n, 0, 's4 reported a live master lost');
    assert.equal(repl.stalledStreams, 0, "the master cut a stream as stalled (the standby's silence is not a stall)");
    const st = await nodeStatus(s4);
    assert.deepEqual([st.role, st.epoch], ['slave', 1]);
    assert.ok(st.lastPosition < repl.replica.lastPosition, `s4 takes no entries (at ${st.lastPosition}, the master at ${repl.replica.lastPosition})`);
    // The master goes: the heartbeats stop, and s4 says so like any slave.
    await stopNode(s1);
    await checkFor('s4 reports the master lost', () => lost.n >= 1, 10_000);
    assert.ok(s2.store && s3.store);
  } finally {
    await cleanupNodes(all);
  }
});

test('a slave with no stream for twice the master timeout gives its place to the standby, which catches up; back, it is the standby', async () => {
  const all = testNodes([], ['s1', 's2', 's3', 's4']);
  const [s1, , s3, s4] = all as [typeof all[0], typeof all[0], typeof all[0], typeof all[0]];
  try {
    await bootServing(all);
    const repl = s1.store!.repl!;
    await checkFor('s4 linked to the master', () => repl.links.acceptedPeers().includes('s4'));
    for (let i = 0; i < 20; i++) await sendReceipted(s1, '/queue/standby', `before-${i}`);
    assert.equal(repl.replica.slaveProgress('s4'), undefined);
    // s3's machine is gone (the operator will start a store under a new id: s4 stands in for it).
    await stopNode(s3);
    await checkFor('s4 replicated to in s3\'s place', () => repl.slavesReplaced === 1 && repl.replica.slaveProgress('s4') !== undefined, 10_000);
    assert.equal(repl.replica.slaveProgress('s3'), undefined, 's3 is no slave any more');
    await sendReceipted(s1, '/queue/standby', 'after');
    await checkFor('s4 caught up with the master', async () => {
      const st = await nodeStatus(s4);
      return st.role === 'slave' && st.lastPosition === repl.replica.lastPosition;
    }, 10_000);
    // s3 comes back: the master keeps s2 and s4, s3 is the standby now (heard, not replicated to).
    const lost = countMasterLost([s4]);
    await bootNode(s3);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true, 's3 accepts slave (the coordinators assign a returning member)');
    await checkFor('s3 linked to the master', () => repl.links.acceptedPeers().includes('s3'), 10_000);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(repl.replica.slaveProgress('s3'), undefined, 's3 is a standby');
    assert.notEqual(repl.replica.slaveProgress('s4'), undefined);
    assert.equal(repl.slavesReplaced, 1, 'nothing else replaced');
    assert.equal(lost.n, 0);
  } finally {
    await cleanupNodes(all);
  }
});
