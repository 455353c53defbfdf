// The checker on hand-written histories: one clean run, then one history per defect it must
// name (and the near misses it must not).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { check, summarize } from './checker';
import type { HistoryEvent, HistoryInput } from './history';
import { Rng } from './rng';
import { planFaults, FAULT_KINDS } from './faults';

/** Events stamped 0, 10, 20... in the order given. */
function h(...evs: HistoryInput[]): HistoryEvent[] {
  return evs.map((e, i) => ({ t: i * 10, ...e }) as HistoryEvent);
}

const Q: HistoryInput[] = [
  { type: 'dest', dest: '/queue/q', kind: 'queue' },
  { type: 'subscribe', sub: 'queue:/queue/q', dest: '/queue/q', consumer: 'c1' },
];
const send = (id: string, seq: number, extra: Partial<{ txn: string; dest: string; producer: string; group: string }> = {}): HistoryInput =>
  ({ type: 'send', id, producer: extra.producer ?? 'p1', dest: extra.dest ?? '/queue/q', seq, path: 'gw', group: extra.group ?? 'g1', ...(extra.txn ? { txn: extra.txn } : {}) });
const ok = (id: string): HistoryInput => ({ type: 'send-result', id, outcome: 'ok' });
const deliver = (id: string, redelivered = false, sub = 'queue:/queue/q'): HistoryInput => ({ type: 'deliver', sub, consumer: 'c1', id, redelivered });
const ack = (id: string, outcome: 'ok' | 'unconfirmed' = 'ok'): HistoryInput => ({ type: 'ack', sub: 'queue:/queue/q', consumer: 'c1', id, outcome });

describe('chaos checker', () => {
  it('a clean history passes, with its counts', () => {
    const r = check(h(...Q, send('a', 0), ok('a'), send('b', 1), ok('b'), deliver('a'), ack('a'), deliver('b'), ack('b')));
    assert.equal(r.ok, true, summarize(r));
    assert.equal(r.counts.receipted, 2);
    assert.equal(r.counts.deliveries, 2);
    assert.equal(r.counts.acksOk, 2);
  });

  it('MQTT: a QoS 2 copy is a violation; QoS 1 copies are counted apart, DUP or not; an acknowledged publication never delivered is lost', () => {
    const M: HistoryInput[] = [
      { type: 'subscribe', sub: 'mqtt:s2', dest: 'mqtt:m2', consumer: 's2', delivery: 'exactly-once' },
      { type: 'subscribe', sub: 'mqtt:s1', dest: 'mqtt:m1', consumer: 's1', delivery: 'at-least-once' },
    ];
    const r = check(h(...M, send('q2', 0, { dest: 'mqtt:m2' }), ok('q2'), send('q1', 1, { dest: 'mqtt:m1' }), ok('q1'), send('q1b', 2, { dest: 'mqtt:m1' }), ok('q1b'),
      deliver('q2', false, 'mqtt:s2'), deliver('q2', true, 'mqtt:s2'), deliver('q1', false, 'mqtt:s1'), deliver('q1', false, 'mqtt:s1'), deliver('q1', true, 'mqtt:s1')));
    assert.deepEqual(r.qos2Duplicates.map((v) => [v.id, v.detail]), [['q2', 'copy 2 (DUP)']]);
    assert.deepEqual(r.unmarkedDuplicates, [], 'QoS 1 copies without DUP are not unmarked duplicates');
    assert.deepEqual([r.counts.qos1Copies, r.counts.qos1CopiesDup], [2, 1]);
    assert.deepEqual(r.lost.map((v) => v.id), ['q1b'], 'PUBACK/PUBCOMP = acknowledged');
    assert.equal(r.ok, false);
    assert.match(summarize(r), /qos2Duplicates: 1/);
  });

  it('lost: a receipted message never delivered; an unknown or refused one is not lost', () => {
    const r = check(h(...Q, send('a', 0), ok('a'), send('b', 1), { type: 'send-result', id: 'b', outcome: 'unknown' },
      send('c', 2), { type: 'send-result', id: 'c', outcome: 'fail' }, send('d', 3)));
    assert.deepEqual(r.lost.map((v) => v.id), ['a']);
    assert.equal(r.counts.unknown, 1);
    assert.equal(r.counts.failed, 1);
    assert.equal(r.counts.unsettled, 1);
    assert.equal(r.ok, false);
  });

  it('lost per subscription: a durable subscriber made before the send must get it, one made after need not', () => {
    const r = check(h(
      { type: 'dest', dest: '/topic/t', kind: 'topic' },
      { type: 'subscribe', sub: 'durable:A:d', dest: '/topic/t', consumer: 'a' },
      send('m', 0, { dest: '/topic/t' }), ok('m'),
      { type: 'subscribe', sub: 'durable:B:d', dest: '/topic/t', consumer: 'b' },
      deliver('m', false, 'durable:B:d'),
    ));
    assert.deepEqual(r.lost.map((v) => [v.id, v.sub]), [['m', 'durable:A:d']]);
  });

  it('a redelivered copy before the ack is fine; a copy after a confirmed ack is a duplicate; an unconfirmed ack proves nothing', () => {
    const fine = check(h(...Q, send('a', 0), ok('a'), deliver('a'), deliver('a', true), ack('a')));
    assert.equal(fine.ok, true, summarize(fine));
    assert.equal(fine.counts.duplicates, 1);
    const bad = check(h(...Q, send('a', 0), ok('a'), deliver('a'), ack('a'), deliver('a', true)));
    assert.deepEqual(bad.duplicatesAfterAck.map((v) => v.id), ['a']);
    assert.deepEqual(bad.unmarkedDuplicates, []);
    assert.equal(bad.ok, true, 'reported, not a failure: it came marked redelivered');
    const unconfirmed = check(h(...Q, send('a', 0), ok('a'), deliver('a'), ack('a', 'unconfirmed'), deliver('a', true)));
    assert.equal(unconfirmed.ok, true, summarize(unconfirmed));
  });

  it('D10: a copy judged by its arrival at the client — taken after the ack but arrived before it is counted apart, not a duplicate after the ack', () => {
    const at = (t: number, e: HistoryInput): HistoryEvent => ({ t, ...e }) as HistoryEvent;
    const copy = (t: number, arrived: number | undefined, consumer: string, redelivered = true): HistoryEvent =>
      at(t, { type: 'deliver', sub: 'queue:/queue/q', consumer, id: 'a', redelivered, ...(arrived === undefined ? {} : { arrived }) });
    const start = [at(0, Q[0]!), at(1, Q[1]!), at(2, send('a', 0)), at(3, ok('a')), at(10, { type: 'deliver', sub: 'queue:/queue/q', consumer: 'c1', id: 'a', redelivered: false, arrived: 5 }), at(20, ack('a'))];
    // c2 had the copy in its buffer since t=15 (before the ack's RECEIPT at 20) and took it at 40.
    const buffered = check([...start, copy(40, 15, 'c2')]);
    assert.deepEqual(buffered.duplicatesAfterAck, []);
    assert.deepEqual(buffered.copiesBufferedBeforeAck.map((v) => [v.id, v.consumer, v.detail]), [['a', 'c2', 'arrived 5 ms before the ack was confirmed at 20, taken 20 ms after it (marked redelivered)']]);
    assert.equal(buffered.ok, true, summarize(buffered));
    assert.match(summarize(buffered), /copiesBufferedBeforeAck: 1/);
    // A copy that reached the client after the ack was confirmed is a duplicate after the ack.
    const late = check([...start, copy(40, 30, 'c2')]);
    assert.deepEqual(late.duplicatesAfterAck.map((v) => [v.id, v.detail]), [['a', 'ack confirmed at 20, delivered again 10 ms later (marked redelivered)']]);
    assert.deepEqual(late.copiesBufferedBeforeAck, []);
    // Arrival at the very moment of the RECEIPT: not after it.
    assert.equal(check([...start, copy(40, 20, 'c2')]).copiesBufferedBeforeAck.length, 1);
    // Old histories (no `arrived`): judged by `t` as before.
    const old = check([...start, copy(40, undefined, 'c2')]);
    assert.deepEqual([old.duplicatesAfterAck.length, old.copiesBufferedBeforeAck.length], [1, 0]);
  });

  it('unmarked duplicates: a second copy without redelivered; copies on two subscriptions are not duplicates', () => {
    const r = check(h(...Q, send('a', 0), ok('a'), deliver('a'), deliver('a')));
    assert.deepEqual(r.unmarkedDuplicates.map((v) => [v.id, v.detail]), [['a', 'copy 2, unmarked copy 2']]);
    // Which copy came first is not in the history (a consumer records what its application
    // takes from its client's buffer): one unmarked copy is the first delivery, whenever seen.
    const late = check(h(...Q, send('a', 0), ok('a'), deliver('a', true), deliver('a')));
    assert.equal(late.ok, true, summarize(late));
    const third = check(h(...Q, send('a', 0), ok('a'), deliver('a'), deliver('a', true), deliver('a')));
    assert.deepEqual(third.unmarkedDuplicates.map((v) => [v.id, v.detail]), [['a', 'copy 3, unmarked copy 2']]);
    const two = check(h(
      { type: 'subscribe', sub: 'durable:A:d', dest: '/topic/t', consumer: 'a' },
      { type: 'subscribe', sub: 'durable:B:d', dest: '/topic/t', consumer: 'b' },
      send('m', 0, { dest: '/topic/t' }), ok('m'), deliver('m', false, 'durable:A:d'), deliver('m', false, 'durable:B:d')));
    assert.equal(two.ok, true, summarize(two));
  });

  it('order: a first delivery behind an earlier one of the same producer on an ordered queue; redelivered copies and other producers are free', () => {
    const O: HistoryInput[] = [{ type: 'dest', dest: '/queue/q', kind: 'queue', ordered: true }, Q[1]!];
    const r = check(h(...O, send('a', 0), ok('a'), send('b', 1), ok('b'), send('c', 2), ok('c'), deliver('a'), deliver('c'), deliver('b')));
    assert.deepEqual(r.reordered.map((v) => v.id), ['b']);
    const fine = check(h(...O, send('a', 0), ok('a'), send('b', 1), ok('b'), send('x', 0, { producer: 'p2' }), ok('x'),
      deliver('a'), deliver('b'), deliver('a', true), deliver('x')));
    assert.equal(fine.ok, true, summarize(fine));
    const unorderedDest = check(h(...Q, send('a', 0), ok('a'), send('b', 1), ok('b'), deliver('b'), deliver('a')));
    assert.equal(unorderedDest.ok, true, summarize(unorderedDest));
  });

  it('transactions: committed ones must arrive whole; half of one is reported; a rolled-back one must not show; unknown is all or nothing', () => {
    const committed = check(h(...Q, { type: 'txn', txn: 'x1', producer: 'p1' }, send('a', 0, { txn: 'x1' }), ok('a'), send('b', 1, { txn: 'x1' }), ok('b'),
      { type: 'txn-result', txn: 'x1', outcome: 'ok' }, deliver('a')));
    assert.deepEqual(committed.halfTransactions.map((v) => v.id), ['x1']);
    assert.deepEqual(committed.lost.map((v) => v.id), ['b']);
    const aborted = check(h(...Q, { type: 'txn', txn: 'x2', producer: 'p1' }, send('a', 0, { txn: 'x2' }), ok('a'),
      { type: 'txn-result', txn: 'x2', outcome: 'fail' }, deliver('a')));
    assert.deepEqual(aborted.abortedVisible.map((v) => v.id), ['x2']);
    assert.deepEqual(aborted.lost, []);
    const unknownAll = check(h(...Q, { type: 'txn', txn: 'x3', producer: 'p1' }, send('a', 0, { txn: 'x3' }), ok('a'), send('b', 1, { txn: 'x3' }), ok('b'),
      { type: 'txn-result', txn: 'x3', outcome: 'unknown' }, deliver('a'), deliver('b')));
    assert.equal(unknownAll.ok, true, summarize(unknownAll));
    const unknownNone = check(h(...Q, { type: 'txn', txn: 'x4', producer: 'p1' }, send('a', 0, { txn: 'x4' }), ok('a'),
      { type: 'txn-result', txn: 'x4', outcome: 'unknown' }));
    assert.equal(unknownNone.ok, true, summarize(unknownNone));
  });

  it('a refused SEND that is delivered, and a delivery nobody sent, are reported', () => {
    const r = check(h(...Q, send('a', 0), { type: 'send-result', id: 'a', outcome: 'fail', error: 'ERROR' }, deliver('a'), deliver('zz')));
    assert.deepEqual(r.failedButDelivered.map((v) => v.id), ['a']);
    assert.deepEqual(r.phantoms.map((v) => v.id), ['zz']);
  });

  it('heal: first receipt of a SEND issued after the fault, per group; a SEND issued before does not count; never is null', () => {
    const ev = h(...Q,
      send('old', 0), // t=20, issued before the fault
      { type: 'fault', phase: 'start', kind: 'kill-master', cycle: 1, target: 's1', groups: ['g1'] }, // t=30
      ok('old'), // t=40: receipted after, but issued before
      send('n1', 1), // t=50
      send('other', 0, { group: 'g2', producer: 'p2' }), ok('other'), // g2: not this fault's group
      ok('n1'), // t=80 -> heal 50 ms
      { type: 'fault', phase: 'start', kind: 'kill-gateway', cycle: 2, target: 'gw', groups: ['g1', 'g2'] }, // t=90
      send('n2', 2), ok('n2'), // g1 heals at t=110; g2 never
    );
    const r = check(ev);
    assert.deepEqual(r.heal.map((x) => [x.kind, x.healMs]), [['kill-master', 50], ['kill-gateway', null]]);
    assert.deepEqual(r.heal[1]!.byGroup, { g1: 20, g2: null });
    assert.equal(r.healByKind['kill-master']!.p50Ms, 50);
    assert.equal(r.healByKind['kill-gateway']!.unhealed, 1);
  });

  it('longest gap: a late outage after a quick first receipt is seen, up to the next fault', () => {
    const at = (t: number, e: HistoryInput): HistoryEvent => ({ t, ...e }) as HistoryEvent;
    const r = check([
      at(0, { type: 'fault', phase: 'start', kind: 'zk-quorum', cycle: 1, target: 'zk', groups: ['g1'] }),
      at(10, send('a', 0)), at(20, ok('a')), // first receipt 20 ms after
      at(30, send('b', 1)), at(3030, ok('b')), // then 3 s without one
      at(3040, send('c', 2)), at(3050, ok('c')),
      at(5000, { type: 'fault', phase: 'start', kind: 'kill-slave', cycle: 2, target: 's2', groups: ['g1'] }),
      at(5010, send('d', 3)), at(9000, ok('d')), // after the next fault: not the first's gap
    ]);
    assert.equal(r.heal[0]!.healMs, 20);
    assert.equal(r.heal[0]!.maxGapMs, 3010);
    assert.equal(r.heal[1]!.maxGapMs, 4000);
    assert.equal(r.healByKind['zk-quorum']!.gapOver2s, 1);
  });

  it('from restore: the longest gap counted from when the fault was taken back (open stretch from the restore), apart from the gap from its start', () => {
    const at = (t: number, e: HistoryInput): HistoryEvent => ({ t, ...e }) as HistoryEvent;
    const r = check([
      at(0, { type: 'fault', phase: 'start', kind: 'zk-quorum', cycle: 1, target: 'zk', groups: ['g1'] }),
      at(10, send('a', 0)), at(20, ok('a')),
      at(30, send('b', 1)), // the group stops serving 1 s into the outage: b waits
      at(3000, { type: 'fault', phase: 'end', kind: 'zk-quorum', cycle: 1, target: 'zk', groups: ['g1'] }), // quorum back
      at(3400, ok('b')), // served 400 ms after the restore (b was issued before it: it counts)
      at(3410, send('c', 2)), at(4000, ok('c')), // then a 600 ms gap
      at(5000, { type: 'fault', phase: 'start', kind: 'kill-slave', cycle: 2, target: 's2', groups: ['g1'] }),
      at(5010, send('d', 3)), at(9000, ok('d')),
    ]);
    assert.equal(r.heal[0]!.maxGapMs, 3380, 'the old figure is kept');
    assert.equal(r.heal[0]!.restoredMs, 3000);
    assert.equal(r.heal[0]!.restoreGapMs, 600);
    assert.equal(r.heal[1]!.restoreGapMs, null, 'never taken back in this history');
    assert.equal(r.healByKind['zk-quorum']!.restoreGapMaxMs, 600);
    assert.equal(r.healByKind['zk-quorum']!.restoreGapOver2s, 0);
    assert.equal(r.healByKind['zk-quorum']!.gapOver2s, 1);
  });
});

describe('chaos fault plan', () => {
  it('the same seed gives the same plan; every kind asked for appears in a long enough plan', () => {
    const a = planFaults(new Rng(42), 60, FAULT_KINDS);
    const b = planFaults(new Rng(42), 60, FAULT_KINDS);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, planFaults(new Rng(43), 60, FAULT_KINDS));
    for (const k of FAULT_KINDS) assert.ok(a.some((p) => p.kind === k), `${k} in the plan`);
    const only = planFaults(new Rng(1), 10, ['kill-slave']);
    assert.ok(only.every((p) => p.kind === 'kill-slave'));
  });
});
