// Scenario tables for the replication core, in the style of etcd raft's testdata: each test is
// a short script over a simulated group (./cluster.ts). Commands:
//   elect <id> <epoch>          prepare(epoch) to every live node, becomeMaster(id), becomeSlave(others)
//   prepare|master <id> <epoch> [members,...] / slave <id> <epoch> <master> / fence <id> <epoch>
//   add <master> <id>           addMember: a member first seen after the election
//   propose <id> <data...>      each word is one entry
//   deliver [to]                deliver the messages in flight now (to one node), FIFO
//   drop [to]                   lose the messages in flight (to one node)
//   persist <id|all>            complete the queued disk writes
//   stabilize                   deliver + persist + flush until nothing moves
//   tick <id|all> <now>         time is <now> ms
//   unreachable <id> <master> <now>   the shell's link to <master> failed at the transport
//   heard <id> <master> <now>   <master> wrote without entries (a Hello's answer, a standby's heartbeat)
//   flush <id|all>              a tick at the node's current time (what the shell's periodic
//                               tick does between heartbeats: commit notices, a slave's disk ack)
//   crash <id> / restart <id> / compact <id> <position>
//   expect commit|ack|persisted|last|snapshot <id> <n>
//   expect log <id> <epoch:data...>   the memory log after the snapshot (noop for no-ops)
//   expect role <id> <role> [epoch]
//   expect action|no-action <id> <type> [key=value...]   among actions since the last command
//   expect sent <from> <message-type|snapshot> <to> [key=value...]   in flight now
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Envelope, show } from './cluster';
import { Action, SyncMode } from './types';

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function run(group: string, script: string[], sync: SyncMode = 'quorum_mem'): Cluster {
  return play(new Cluster({ ids: group.split(' '), sync, heartbeatMs: 100, masterTimeoutMs: 1000 }), script);
}

/** Runs more of a script on a cluster (its nodes' clocks start again at 0). */
function play(c: Cluster, script: string[]): Cluster {
  const clear = () => { for (const n of c.nodes.values()) n.actions = []; };
  const all = (who: string) => (who === 'all' ? c.ids : [who]);
  const now = new Map<string, number>();
  const flush = (id: string) => { c.step(id, { type: 'tick', now: now.get(id) ?? 0 }); };
  for (const [i, line] of script.entries()) {
    const where = `line ${i + 1}: ${line}`;
    const [cmd, ...args] = line.replace(/#.*$/, '').trim().split(/\s+/);
    if (!cmd) continue;
    if (cmd !== 'expect') clear();
    switch (cmd) {
      case 'elect': {
        const [id, epoch] = [args[0], Number(args[1])];
        for (const n of c.nodes.values()) c.step(n.id, { type: 'prepare', epoch });
        c.step(id, { type: 'becomeMaster', epoch, members: c.ids });
        for (const n of c.nodes.values()) if (n.id !== id) c.step(n.id, { type: 'becomeSlave', epoch, masterId: id });
        break;
      }
      case 'prepare': c.step(args[0], { type: 'prepare', epoch: Number(args[1]) }); break;
      case 'master': c.step(args[0], { type: 'becomeMaster', epoch: Number(args[1]), members: args[2] ? args[2].split(',') : c.ids }); break;
      case 'add': c.step(args[0], { type: 'addMember', id: args[1] }); break;
      case 'slave': c.step(args[0], { type: 'becomeSlave', epoch: Number(args[1]), masterId: args[2] }); break;
      case 'fence': c.step(args[0], { type: 'fence', epoch: Number(args[1]) }); break;
      case 'propose': c.propose(args[0], args.slice(1).map(enc)); break;
      case 'deliver': case 'drop': {
        const take = c.pending.filter((e) => !args[0] || e.to === args[0]);
        c.pending = c.pending.filter((e) => !take.includes(e));
        if (cmd === 'deliver') for (const e of take) c.deliver(e);
        break;
      }
      case 'persist': for (const id of all(args[0])) while (c.completeWrite(id)); break;
      case 'stabilize': {
        for (let k = 0; k < 1000; k++) {
          let moved = false;
          for (const id of c.ids) while (c.completeWrite(id)) moved = true;
          for (const id of c.ids) while (c.completeRead(id)) moved = true;
          const take = c.pending;
          c.pending = [];
          for (const e of take) { c.deliver(e); moved = true; }
          if (!moved) {
            for (const id of c.ids) flush(id);
            if (!c.pending.length) break;
          }
        }
        break;
      }
      case 'tick': for (const id of all(args[0])) { now.set(id, Number(args[1])); c.step(id, { type: 'tick', now: Number(args[1]) }); } break;
      case 'flush': for (const id of all(args[0])) flush(id); break;
      case 'unreachable': now.set(args[0], Number(args[2])); c.step(args[0], { type: 'masterUnreachable', masterId: args[1], now: Number(args[2]) }); break;
      case 'heard': now.set(args[0], Number(args[2])); c.step(args[0], { type: 'masterHeard', masterId: args[1], now: Number(args[2]) }); break;
      case 'crash': c.crash(args[0]); break;
      case 'restart': c.restart(args[0]); break;
      case 'compact': assert.ok(c.compact(args[0], Number(args[1])), `${where}: compact refused`); break;
      case 'release': assert.ok(c.release(args[0], Number(args[1])), `${where}: release refused`); break;
      case 'read': for (const id of all(args[0])) while (c.completeRead(id)); break;
      case 'expect': expect(c, args, where); break;
      default: throw new Error(`${where}: unknown command`);
    }
  }
  return c;
}

function matchesKv(obj: object, kvs: string[]): boolean {
  return kvs.every((kv) => {
    const [k, v] = kv.split('=');
    return String((obj as Record<string, unknown>)[k]) === v;
  });
}

function expect(c: Cluster, args: string[], where: string): void {
  const [what, id, ...rest] = args;
  const n = c.node(id);
  const r = n.replica;
  const num = Number(rest[0]);
  switch (what) {
    case 'commit': assert.equal(r.commitPosition, num, where); break;
    case 'ack': assert.equal(r.acknowledgedPosition, num, where); break;
    case 'persisted': assert.equal(r.persistedPosition, num, where); break;
    case 'last': assert.equal(r.lastPosition, num, where); break;
    case 'snapshot': assert.equal(r.snapshotPosition, num, where); break;
    case 'log': assert.deepEqual(r.entries().map(show), rest, where); break;
    case 'role':
      assert.equal(r.role, rest[0], where);
      if (rest[1]) assert.equal(r.epoch, Number(rest[1]), where);
      break;
    case 'action': case 'no-action': {
      const found = n.actions.some((a: Action) => a.type === rest[0] && matchesKv(a, rest.slice(1)));
      assert.equal(found, what === 'action', `${where}\n  actions: ${JSON.stringify(n.actions.map((a) => a.type === 'send' ? { send: a.message.type, to: a.to } : a))}`);
      break;
    }
    case 'sent': {
      const [type, to, ...kvs] = rest;
      const found = c.pending.some((e: Envelope) => e.from === id && e.to === to &&
        (e.kind === 'snapshot' ? type === 'snapshot' && matchesKv(e, kvs) : e.message.type === type && matchesKv(e.message, kvs)));
      assert.ok(found, `${where}\n  in flight: ${JSON.stringify(c.pending.map((e) => ({ from: e.from, to: e.to, type: e.kind === 'snapshot' ? 'snapshot' : e.message.type })))}`);
      break;
    }
    default: throw new Error(`${where}: unknown expectation`);
  }
}

const START = ['elect m 1', 'stabilize', 'expect commit m 1', 'expect commit s1 1', 'expect log s2 1:noop'];

// --- normal replication: when a proposal is acknowledgeable, per sync mode ---------------------
const syncScenarios: Array<[SyncMode, string[]]> = [
  ['local_mem', [...START, 'propose m a b', 'expect ack m 3', 'expect commit m 1', 'stabilize', 'expect commit m 3', 'expect commit s2 3']],
  ['local_disk', [...START, 'propose m a b', 'expect ack m 1', 'deliver', 'persist s1', 'deliver', 'expect ack m 1',
    'persist m', 'expect ack m 3', 'expect action m acknowledge epoch=1 position=3', 'expect commit m 3']],
  ['remote_mem', [...START, 'propose m a b', 'expect ack m 1', 'persist m', 'expect ack m 1',
    'deliver s2', 'expect log s2 1:noop 1:a 1:b', 'expect persisted s2 1', 'deliver m', 'expect ack m 3', 'expect commit m 1']],
  ['remote_disk', [...START, 'propose m a b', 'deliver s2', 'deliver m', 'expect ack m 1',
    'persist s2', 'expect action s2 send', 'deliver m', 'expect ack m 3', 'expect persisted m 1',
    'expect commit m 1', 'persist m', 'expect commit m 3']],  // commit is a quorum of disks, the master's included
  ['quorum_mem', [...START, 'propose m a b', 'deliver s1', 'expect log s1 1:noop 1:a 1:b', 'deliver m',
    'expect ack m 3', 'expect commit m 1', 'persist m', 'expect commit m 1', 'persist s1',
    'expect no-action s1 send', 'flush s1', 'deliver m', 'expect commit m 3', // the disk ack waits for the slave's tick
    'expect no-action m send', 'flush m', 'deliver s1', 'expect commit s1 3']],     // so does the commit notice
  ['quorum_disk', [...START, 'propose m a b', 'deliver s1', 'deliver m', 'expect ack m 1', 'persist s1', 'deliver m',
    'expect ack m 1', 'expect commit m 1', 'persist m', 'expect ack m 3', 'expect commit m 3']],
];
for (const [sync, script] of syncScenarios) {
  test(`sync=${sync}: a proposal is acknowledged when the mode is met`, () => { run('m s1 s2', script, sync); });
}

test('quorum_mem with 5 replicas needs two slaves', () => {
  run('m s1 s2 s3 s4', [...START, 'propose m a', 'deliver s1', 'deliver m', 'expect ack m 1', 'deliver s2', 'deliver m', 'expect ack m 2']);
});

test('replicas=1: remote and quorum modes are the local ones', () => {
  run('m', ['elect m 1', 'persist m', 'expect commit m 1', 'propose m a', 'expect ack m 1', 'persist m', 'expect ack m 2', 'expect commit m 2'], 'quorum_disk');
});

test('a slave that rejoins behind is walked back to the common point and caught up', () => {
  run('m s1 s2', [
    ...START,
    'propose m a b',
    'deliver s2', 'deliver m',         // s2 holds a, b in memory only; the master counts it
    'crash s2', 'restart s2',          // ... and loses them
    'expect log s2 1:noop',
    'propose m c',
    'deliver s2',                      // prev (1,3) unknown to s2: it rejects with a hint
    'expect action s2 send',
    'expect sent s2 reject m hintEpoch=1 hintPosition=1',
    'deliver m', 'expect sent m append s2 prevPosition=1',
    'stabilize',
    'expect role s2 slave 1',          // followed the master of an epoch >= its promise
    'expect log s2 1:noop 1:a 1:b 1:c',
    'expect commit s2 4',
  ]);
});

test('a member first seen after the election is added and caught up; never more than replicas-1 slaves', () => {
  const c = run('m s1 s2', [
    'prepare m 1', 'prepare s1 1', 'prepare s2 1',
    'master m 1 m,s1',                 // s2 was down when the coordinator listed the members
    'slave s1 1 m', 'slave s2 1 m',
    'propose m a', 'stabilize', 'expect commit m 2', 'expect log s2',
    'add m s2', 'expect sent m append s2',
    'stabilize', 'expect log s2 1:noop 1:a', 'expect commit s2 2',
    'propose m b', 'deliver s2', 'deliver m', 'expect ack m 3', // s2 alone now makes the quorum
    'add m s1', 'add m s2', 'expect no-action m refuse',        // already replicated to
  ]);
  const refused = c.step('m', { type: 'addMember', id: 'x9' });
  assert.ok(refused.some((a) => a.type === 'refuse' && a.event === 'addMember'), 'a third slave is refused (replicas 3)');
});

test('replaceMember: a gone slave\'s place goes to another member, which catches up and counts for commits; refusals', () => {
  const c = run('m s1 s2', [
    'prepare m 1', 'prepare s1 1', 'prepare s2 1',
    'master m 1 m,s1',                 // s2 not a slave of this master (a standby)
    'slave s1 1 m', 'slave s2 1 m',
    'propose m a', 'stabilize', 'expect commit m 2', 'expect log s2',
    'crash s1',                        // s1 is gone
  ]);
  const swapped = c.step('m', { type: 'replaceMember', gone: 's1', id: 's2' });
  assert.ok(!swapped.some((a) => a.type === 'refuse'), JSON.stringify(swapped));
  assert.ok(swapped.some((a) => a.type === 'send' && a.to === 's2'), 'a probe goes to s2');
  play(c, ['stabilize', 'expect log s2 1:noop 1:a', 'propose m b', 'stabilize', 'expect commit m 3', 'expect commit s2 3']);
  for (const [gone, id, why] of [['s1', 's2', 's1 is not a slave'], ['s2', 's2', 'already a slave'], ['s2', 'm', 'this master']] as const) {
    const r = c.step('m', { type: 'replaceMember', gone, id });
    assert.ok(r.some((a) => a.type === 'refuse' && a.event === 'replaceMember'), why);
  }
  assert.ok(c.step('s2', { type: 'replaceMember', gone: 'm', id: 's1' }).some((a) => a.type === 'refuse'), 'a slave refuses it');
});

test('a slave offline for a while catches up from the master log on heartbeats', () => {
  run('m s1 s2', [
    ...START, 'crash s2', 'propose m a b c', 'stabilize', 'expect commit m 4',
    'restart s2', 'tick m 200', 'stabilize', 'expect log s2 1:noop 1:a 1:b 1:c', 'expect commit s2 4',
  ]);
});

test('an old master\'s uncommitted tail is truncated when it rejoins as slave', () => {
  run('a b c', [
    'elect a 1', 'stabilize',
    'propose a x y', 'persist a', 'drop',  // written on a only, never replicated
    'crash a',
    'elect b 2', 'stabilize', 'propose b z', 'stabilize', 'expect commit b 3',
    'restart a', 'expect log a 1:noop 1:x 1:y',
    'slave a 2 b', 'expect role a slave 2',
    'tick b 200', 'expect sent b append a prevEpoch=1 prevPosition=1',
    'deliver a', 'expect action a truncate fromPosition=2',
    'stabilize',
    'expect log a 1:noop 2:noop 2:z', 'expect commit a 3', 'expect persisted a 3',
  ]);
});

test('an older tail commits only under a current-epoch entry (raft §5.4.2)', () => {
  run('a b c', [
    'elect a 1', 'stabilize',
    'propose a x', 'persist a', 'deliver b', 'persist b', 'drop',  // x on a and b disks, ack lost
    'expect commit a 1',
    'crash a',
    'elect b 2',                                  // b appends its no-op at 3 above x
    'expect log b 1:noop 1:x 2:noop', 'expect commit b 1',
    'persist b', 'deliver c', 'expect sent c reject b hintEpoch=1 hintPosition=1',
    'deliver b', 'deliver c', 'expect log c 1:noop 1:x 2:noop',
    'expect commit b 1', 'persist c', 'flush c', 'deliver b', // c's disk ack goes at its tick (quorum_mem)
    'expect commit b 3',                          // x commits with the no-op, not before
  ]);
});

test('a new master does not count replicas for an older-epoch entry (raft figure 8)', () => {
  run('a b c', [
    'elect a 1', 'stabilize',
    'propose a x', 'deliver b', 'deliver c', 'persist b', 'persist c', 'drop',  // acks lost
    'expect commit a 1', 'crash a',
    'elect b 2', 'expect log b 1:noop 1:x 2:noop', 'deliver c',
    'deliver b',                                   // c persisted x at 2: a quorum holds it...
    'expect commit b 1',                           // ... but it is of epoch 1: no commit yet
    'persist b', 'persist c', 'flush c', 'deliver b', 'expect commit b 3',
  ]);
});

test('snapshot catch-up when the master compacted what the slave needs', () => {
  run('m s1 s2', [
    ...START, 'crash s2', 'propose m a b c', 'stabilize', 'compact m 4', 'expect snapshot m 4',
    'restart s2', 'tick m 200',
    'expect sent m snapshot s2 position=4 epoch=1',
    'deliver s2', 'expect action s2 resetLog position=4', 'expect snapshot s2 4',
    'persist s2', 'expect persisted s2 4',
    'stabilize',
    'propose m d', 'stabilize', 'expect log s2 1:d', 'expect commit s2 5',
  ]);
});

test('a lost snapshot is sent again after snapshotTimeoutMs', () => {
  run('m s1 s2', [
    ...START, 'crash s2', 'propose m a', 'stabilize', 'compact m 2',
    'restart s2', 'tick m 200', 'expect sent m snapshot s2 position=2', 'drop s2',
    'tick m 400', 'expect no-action m sendSnapshot', 'expect sent m append s2',  // heartbeat only
    'drop',
    'tick m 1300', 'expect action m sendSnapshot to=s2 position=2',
    'stabilize', 'expect snapshot s2 2', 'expect commit s2 2',
  ]);
});

test('fencing: an old master hears of a newer epoch and stops acknowledging', () => {
  run('a b c', [
    'elect a 1', 'stabilize',
    'prepare b 2', 'prepare c 2', 'master b 2', 'expect role b master 2',
    'drop',                                   // b's appends are late
    'propose a x', 'expect ack a 1',
    'deliver c',                              // c promised 2: answers "stale"
    'expect sent c stale a epoch=2',
    'deliver a', 'expect role a fenced', 'expect action a saveEpoch epoch=2', 'expect no-action a acknowledge',
    'propose a y', 'expect action a proposalRejected',
    'tick a 1000', 'expect no-action a send',
    'tick b 1000', 'stabilize', 'expect role a slave 2', 'expect log a 1:noop 2:noop', 'expect commit a 2',
  ]);
});

test('fence event and a newer-epoch ack fence a master at once', () => {
  run('a b c', ['elect a 1', 'stabilize', 'fence a 5', 'expect role a fenced', 'expect action a saveEpoch epoch=5',
    'propose a x', 'expect action a proposalRejected']);
});

test('a slave that promised a newer epoch rejects the old master\'s appends', () => {
  run('a b c', [
    'elect a 1', 'stabilize',
    'prepare b 2', 'expect action b promise epoch=2 lastEpoch=1 lastPosition=1', 'expect role b candidate',
    'propose a x', 'deliver b',
    'expect log b 1:noop', 'expect sent b stale a epoch=2',
    'prepare b 1', 'expect action b refuse event=prepare',
    'deliver a', 'expect role a fenced',
  ]);
});

test('becomeMaster is refused by a process that did not make the promise', () => {
  run('a b c', [
    'elect a 1', 'stabilize', 'prepare b 2', 'crash b', 'restart b',
    'master b 2', 'expect action b refuse event=becomeMaster', 'expect role b candidate',
    'prepare b 2', 'expect action b refuse event=prepare',  // same epoch, new life: bump it
    'prepare b 3', 'expect action b promise epoch=3', 'master b 3', 'expect role b master 3',
  ]);
});

test('a slave reports masterLost after masterTimeoutMs of silence, again every masterTimeoutMs', () => {
  run('m s1 s2', [
    ...START, 'tick s1 500', 'expect no-action s1 masterLost', 'tick s1 1000',
    'expect action s1 masterLost epoch=1 masterId=m', 'tick s1 1500', 'expect no-action s1 masterLost',
    'tick s1 2000', 'expect action s1 masterLost', 'tick s1 2100', 'expect no-action s1 masterLost',
    'tick m 2100', 'deliver s1', 'tick s1 2500', 'expect no-action s1 masterLost',
    'tick s1 3100', 'expect action s1 masterLost',
  ]);
});

test('a slave whose link to the master fails at the transport reports masterLost at once, then at most every masterTimeoutMs', () => {
  run('m s1 s2', [
    ...START, 'tick s1 100', 'unreachable s1 m 120',
    'expect action s1 masterLost epoch=1 masterId=m',               // not after 1,000 ms of silence
    'unreachable s1 m 300', 'expect no-action s1 masterLost',       // a redial refused again: not yet
    'tick s1 1000', 'expect no-action s1 masterLost',               // the silence's report waits for the last one's interval too
    'tick s1 1120', 'expect action s1 masterLost',
    'unreachable s1 other 1200', 'expect no-action s1 masterLost',  // not the master it follows
    'unreachable m s1 1200', 'expect no-action m masterLost',       // a master reports nothing
  ]);
});

test('a slave that hears its master without entries (a standby beyond replicas-1) reports no silence; once the master is quiet it does', () => {
  run('m s1 s2', [
    ...START, 'drop',                                                // from here the master's appends never arrive
    'heard s1 m 900', 'tick s1 1100', 'expect no-action s1 masterLost', // heard 200 ms ago, not 1,000
    'heard s1 other 1500', 'tick s1 1900', 'expect action s1 masterLost epoch=1 masterId=m', // another sender is not the master
    'heard s1 m 2000', 'tick s1 2900', 'expect no-action s1 masterLost', // a report, then heard: the silence starts again
    'tick s1 3000', 'expect action s1 masterLost',
    'heard m s1 3000', 'expect no-action m masterLost',             // a master ignores it
  ]);
});

test('duplicated and reordered appends are harmless', () => {
  const c = run('m s1 s2', [...START, 'propose m a', 'propose m b', 'propose m c']);
  const toS1 = c.pending.filter((e) => e.to === 's1').reverse();
  for (const e of [...toS1, ...toS1]) c.deliver(e);
  c.pending = c.pending.filter((e) => e.to !== 's1');
  for (let k = 0; k < 50 && c.pending.length; k++) { const p = c.pending; c.pending = []; p.forEach((e) => c.deliver(e)); }
  assert.deepEqual(c.node('s1').replica.entries().map(show), ['1:noop', '1:a', '1:b', '1:c']);
});

test('a slave behind what the master holds in memory catches up from the master\'s disk (read), not by snapshot', () => {
  const c = run('m s1 s2', [
    ...START, 'crash s2', 'propose m a', 'propose m b', 'propose m c', 'stabilize', 'expect commit m 4',
    'release m 4', 'expect log m',                 // nothing of the log left in the master's memory
    'tick m 500', 'expect no-action m read',       // s2 is down: probed with an empty append, no disk read
    'restart s2', 'slave s2 1 m', 'tick m 1000',   // the master's next heartbeat probes s2 again
    'expect no-action m read', 'deliver s2', 'deliver m', // s2 answers at 1: now the master reads
    'expect action m read', 'expect no-action m sendSnapshot',
    'read m', 'deliver s2', 'stabilize',
    'expect log s2 1:noop 1:a 1:b 1:c', 'expect snapshot s2 0', 'expect commit s2 4',
  ]);
  assert.equal(c.stats.snapshots, 0);
  assert.ok(c.stats.reads >= 1);
});

test('entries compacted while a read was out: the slave gets a snapshot', () => {
  const c = run('m s1 s2', [
    ...START, 'crash s2', 'propose m a', 'propose m b', 'stabilize', 'release m 3',
    'restart s2', 'slave s2 1 m', 'tick m 1000', 'deliver s2', 'deliver m', 'expect action m read',
    'compact m 3', 'read m', 'expect action m sendSnapshot',
  ]);
  assert.equal(c.stats.snapshots, 1);
});
