// Scenario tables for the election rule and the group state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  quorum, chooseWinner, groupState, electionTrigger, MasterLostReports, noQuorumMessage, masterIsLive,
  type MemberPromise, type GroupView,
} from './index';

test('quorum = floor(N/2)+1', () => {
  const table: Array<[number, number]> = [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [6, 4], [7, 4]];
  for (const [n, q] of table) assert.equal(quorum(n), q, `replicas ${n}`);
  assert.throws(() => quorum(0), RangeError);
  assert.throws(() => quorum(1.5), RangeError);
});

const p = (id: string, lastEpoch: number, lastPosition: number, weight = 1): MemberPromise => ({ id, lastEpoch, lastPosition, weight });

test('winner: highest (lastEpoch, lastPosition), then weight, then lowest id', () => {
  const table: Array<{ name: string; promises: MemberPromise[]; replicas: number; avoid?: string; winner?: string; noQuorum?: [number, number] }> = [
    { name: 'higher epoch beats longer log', promises: [p('a', 1, 100), p('b', 2, 5), p('c', 1, 200)], replicas: 3, winner: 'b' },
    { name: 'same epoch: longer log', promises: [p('a', 2, 10), p('b', 2, 12)], replicas: 3, winner: 'b' },
    { name: 'same log: higher weight', promises: [p('a', 2, 10, 1), p('b', 2, 10, 5), p('c', 2, 10, 2)], replicas: 3, winner: 'b' },
    { name: 'same log and weight: lowest id', promises: [p('s3', 2, 10), p('s1', 2, 10), p('s2', 2, 10)], replicas: 3, winner: 's1' },
    { name: 'empty logs', promises: [p('b', 0, 0), p('a', 0, 0)], replicas: 3, winner: 'a' },
    { name: 'single replica', promises: [p('a', 0, 0)], replicas: 1, winner: 'a' },
    { name: '1 of 3 is not a quorum', promises: [p('a', 5, 5)], replicas: 3, noQuorum: [1, 2] },
    { name: 'duplicates count once', promises: [p('a', 1, 1), p('a', 1, 1)], replicas: 3, noQuorum: [1, 2] },
    { name: '2 of 4 is not a quorum', promises: [p('a', 1, 1), p('b', 1, 2)], replicas: 4, noQuorum: [2, 3] },
    { name: '3 of 5', promises: [p('a', 1, 1), p('b', 1, 9), p('c', 1, 3)], replicas: 5, winner: 'b' },
    // The master its slaves reported silent is not elected again while the others are a quorum.
    { name: 'avoided: the reported master, longest log, loses to the best of a quorum of others', promises: [p('m', 3, 120), p('b', 3, 100), p('c', 3, 90)], replicas: 3, avoid: 'm', winner: 'b' },
    { name: 'avoided but needed for a quorum: elected', promises: [p('m', 3, 120), p('b', 3, 100)], replicas: 3, avoid: 'm', winner: 'm' },
    { name: 'avoided, did not promise: no effect', promises: [p('b', 3, 100), p('c', 3, 110)], replicas: 3, avoid: 'm', winner: 'c' },
    { name: 'avoided in 5: three others are a quorum', promises: [p('m', 4, 9), p('a', 4, 7), p('b', 4, 8), p('c', 3, 20)], replicas: 5, avoid: 'm', winner: 'b' },
  ];
  for (const row of table) {
    const d = chooseWinner(row.promises, row.replicas, row.avoid);
    if (row.winner) {
      assert.equal(d.kind, 'winner', row.name);
      if (d.kind === 'winner') {
        assert.equal(d.winner.id, row.winner, row.name);
        assert.equal(d.slaves.length, new Set(row.promises.map((x) => x.id)).size - 1, row.name);
        assert.ok(!d.slaves.some((s) => s.id === row.winner), row.name);
      }
    } else {
      assert.deepEqual(d, { kind: 'no-quorum', promised: row.noQuorum![0], needed: row.noQuorum![1] }, row.name);
    }
  }
});

const view = (v: Partial<GroupView>): GroupView => ({ name: 'g1', replicas: 3, epoch: 4, members: ['a', 'b', 'c'], ...v });
const M = (id: string, epoch = 4) => ({ id, address: `127.0.0.1:${id.charCodeAt(0)}`, epoch });

test('group state: ok | electing | no-quorum with the message', () => {
  const table: Array<{ name: string; v: GroupView; state: string; message: RegExp }> = [
    { name: 'live master', v: view({ master: M('a') }), state: 'ok', message: /^master a in epoch 4, 3 of 3 alive$/ },
    { name: 'no master yet', v: view({}), state: 'electing', message: /^electing a master \(epoch 4\)/ },
    { name: 'master gone, 2 alive', v: view({ master: M('a'), members: ['b', 'c'] }), state: 'electing', message: /electing/ },
    { name: 'record of an older epoch', v: view({ master: M('a', 3) }), state: 'electing', message: /electing/ },
    { name: 'election running', v: view({ master: M('a'), electing: true }), state: 'electing', message: /electing/ },
    { name: '1 of 3, no master', v: view({ members: ['b'] }), state: 'no-quorum', message: /^Not enough cluster members: 1 of 3 alive, quorum is 2$/ },
    { name: '0 of 3', v: view({ members: [] }), state: 'no-quorum', message: /^Not enough cluster members: 0 of 3 alive, quorum is 2$/ },
    { name: 'master alone', v: view({ master: M('a'), members: ['a'] }), state: 'no-quorum', message: /^Not enough cluster members: 1 of 3 alive, quorum is 2 \(master a cannot commit\)$/ },
    { name: 'single replica group', v: view({ replicas: 1, members: ['a'], master: M('a') }), state: 'ok', message: /^master a/ },
    { name: '3 of 5', v: view({ replicas: 5, members: ['a', 'b', 'c'], master: M('c') }), state: 'ok', message: /3 of 5 alive/ },
    { name: '2 of 5', v: view({ replicas: 5, members: ['a', 'b'] }), state: 'no-quorum', message: /2 of 5 alive, quorum is 3/ },
  ];
  for (const row of table) {
    const s = groupState(row.v);
    assert.equal(s.state, row.state, row.name);
    assert.match(s.message, row.message, row.name);
  }
  assert.equal(noQuorumMessage(1, 3), 'Not enough cluster members: 1 of 3 alive, quorum is 2');
  assert.equal(masterIsLive(view({ master: M('a') })), true);
  assert.equal(masterIsLive(view({ master: M('z') })), false);
});

test('election trigger: missing master, master gone, unfinished election, no quorum', () => {
  const table: Array<{ name: string; v: GroupView; start: boolean; reason: string }> = [
    { name: 'fresh group', v: view({ epoch: 0 }), start: true, reason: 'no-master' },
    { name: 'live master', v: view({ master: M('a') }), start: false, reason: 'master-live' },
    { name: 'master znode vanished', v: view({ master: M('a'), members: ['b', 'c'] }), start: true, reason: 'master-gone' },
    { name: 'epoch bumped, no master written', v: view({ epoch: 5, master: M('a', 4) }), start: true, reason: 'unfinished-election' },
    { name: 'master restarted (new member znode)', v: view({ master: M('a'), masterRestarted: true }), start: true, reason: 'master-gone' },
    { name: 'already electing', v: view({ electing: true }), start: false, reason: 'electing' },
    { name: 'master gone, 1 of 3 left', v: view({ master: M('a'), members: ['b'] }), start: false, reason: 'no-quorum' },
    { name: 'no master, 1 of 3', v: view({ members: ['c'] }), start: false, reason: 'no-quorum' },
    { name: 'single replica', v: view({ replicas: 1, members: ['a'] }), start: true, reason: 'no-master' },
  ];
  for (const row of table) {
    const t = electionTrigger(row.v);
    assert.equal(t.start, row.start, row.name);
    assert.equal(t.reason, row.reason, row.name);
  }
  assert.match(electionTrigger(view({ master: M('a'), members: ['b'] })).message, /Not enough cluster members: 1 of 3 alive, quorum is 2/);
});

test('masterLost reports: a quorum of the group (beyond what the master can still commit with) starts an election', () => {
  type Row = { name: string; v: GroupView; reports: Array<[string, number, string]>; start: boolean; counted?: number };
  const table: Row[] = [
    { name: 'one slave of 3 lost the master: the master still has a quorum', v: view({ master: M('a') }), reports: [['b', 4, 'a']], start: false, counted: 1 },
    { name: 'both slaves lost the master', v: view({ master: M('a') }), reports: [['b', 4, 'a'], ['c', 4, 'a']], start: true, counted: 2 },
    { name: 'same reporter twice counts once', v: view({ master: M('a') }), reports: [['b', 4, 'a'], ['b', 4, 'a']], start: false, counted: 1 },
    { name: 'stale epoch reports do not count', v: view({ master: M('a') }), reports: [['b', 3, 'a'], ['c', 3, 'a']], start: false, counted: 0 },
    { name: 'reports about another master do not count', v: view({ master: M('a') }), reports: [['b', 4, 'z'], ['c', 4, 'z']], start: false, counted: 0 },
    { name: 'the master cannot report itself', v: view({ master: M('a') }), reports: [['a', 4, 'a'], ['b', 4, 'a']], start: false, counted: 1 },
    { name: '2 of 3 alive: the only slave lost the master', v: view({ master: M('a'), members: ['a', 'b'] }), reports: [['b', 4, 'a']], start: true, counted: 1 },
    { name: 'a reporter that left does not count', v: view({ master: M('a'), members: ['a', 'c'] }), reports: [['b', 4, 'a']], start: false, counted: 0 },
    { name: '5 replicas: 2 of 4 slaves is not enough', v: view({ replicas: 5, members: ['a', 'b', 'c', 'd', 'e'], master: M('a') }), reports: [['b', 4, 'a'], ['c', 4, 'a']], start: false, counted: 2 },
    { name: '5 replicas: 3 of 4 slaves', v: view({ replicas: 5, members: ['a', 'b', 'c', 'd', 'e'], master: M('a') }), reports: [['b', 4, 'a'], ['c', 4, 'a'], ['d', 4, 'a']], start: true, counted: 3 },
  ];
  for (const row of table) {
    const r = new MasterLostReports();
    for (const [reporter, epoch, masterId] of row.reports) r.record({ reporter, epoch, masterId }, row.v);
    assert.equal(r.count(row.v), row.counted, row.name);
    const t = electionTrigger(row.v, r);
    assert.equal(t.start, row.start, row.name);
    if (row.start) assert.equal(t.reason, 'master-lost', row.name);
  }
});

test('masterLost reports are forgotten when the epoch moves on', () => {
  const r = new MasterLostReports();
  const v4 = view({ master: M('a') });
  assert.equal(r.record({ reporter: 'b', epoch: 4, masterId: 'a' }, v4), true);
  const v5 = view({ epoch: 5, master: M('b', 5) });
  assert.equal(r.count(v5), 0);
  assert.equal(r.record({ reporter: 'c', epoch: 4, masterId: 'a' }, v5), false);
  assert.equal(r.record({ reporter: 'c', epoch: 5, masterId: 'b' }, v5), true);
  assert.equal(r.count(v5), 1);
  r.clear();
  assert.equal(r.count(v5), 0);
});
