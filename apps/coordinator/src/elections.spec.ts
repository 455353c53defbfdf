// gatherPromises: when an election stops waiting for Prepare answers. quorumOverlapRisk: when
// more members are registered than their --replicas keep safe.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberPromise } from '@hawser/election';
import { gatherPromises, quorumOverlapRisk } from './elections';
import type { MemberRecord } from './zk-mirror';

const promise = (id: string): MemberPromise => ({ id, lastEpoch: 1, lastPosition: 10, weight: 1 });
const never = () => new Promise<MemberPromise | undefined>(() => undefined);
const after = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('gatherPromises', () => {
  it('decides when every member answered', async () => {
    const got = await gatherPromises([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, 10_000, async (m) => promise(m.id));
    assert.deepEqual(got.map((g) => g.member.id).sort(), ['a', 'b', 'c']);
  });

  it('a member that never answers holds it for the grace after a quorum, not for its deadline', async () => {
    const t0 = Date.now();
    const got = await gatherPromises([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, 50, (m) => (m.id === 'a' ? never() : Promise.resolve(promise(m.id))));
    assert.deepEqual(got.map((g) => g.member.id).sort(), ['b', 'c']);
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });

  it('an answer within the grace is counted', async () => {
    const got = await gatherPromises([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, 5000, (m) => (m.id === 'a' ? after(30, promise('a')) : Promise.resolve(promise(m.id))));
    assert.deepEqual(got.map((g) => g.member.id).sort(), ['a', 'b', 'c']);
  });

  it('refusals and failures count as answers, not promises: no quorum, decided when all answered', async () => {
    const got = await gatherPromises([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, 10_000,
      (m) => (m.id === 'a' ? Promise.resolve(promise('a')) : m.id === 'b' ? Promise.resolve(undefined) : Promise.reject(new Error('deadline'))));
    assert.deepEqual(got.map((g) => g.member.id), ['a']);
  });

  it('below a quorum it waits for every answer (the deadlines end it)', async () => {
    let settled = false;
    void gatherPromises([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, 10, (m) => (m.id === 'a' ? Promise.resolve(promise('a')) : never())).then(() => { settled = true; });
    await after(100, undefined);
    assert.equal(settled, false);
  });
});

describe('quorumOverlapRisk', () => {
  const group = (...sizes: Array<number | undefined>) => ({
    name: 'g1',
    members: new Map(sizes.map((replicas, i) => [`s${i + 1}`, { id: `s${i + 1}`, address: `127.0.0.1:${i + 1}`, replicas } as MemberRecord])),
  });

  it('none while the quorums must share a member: a full group, one member short, one member added at the next size', () => {
    assert.equal(quorumOverlapRisk(group(3, 3, 3)), undefined);
    assert.equal(quorumOverlapRisk(group(3, 3)), undefined);
    assert.equal(quorumOverlapRisk(group(3, 3, 3, 4)), undefined, '3 -> 4 one at a time: 2 + 3 > 4');
    assert.equal(quorumOverlapRisk(group(4, 4, 4, 4, 5)), undefined, '4 -> 5: 3 + 3 > 5');
    assert.equal(quorumOverlapRisk(group(5, 5, 5, 5, 5)), undefined);
    assert.equal(quorumOverlapRisk(group(1)), undefined);
  });

  it('two added at once (3 and 5), two at the next size, a replacement beside the one it replaces: says why and what to do', () => {
    assert.equal(quorumOverlapRisk(group(3, 3, 3, 5, 5)),
      'group g1: 5 members registered and they say replicas 3 to 5: a master that says 3 commits on 2 copies and an election counts 3 promises, which need not share a member (a master change could lose acknowledged messages): add or remove one member at a time, each step finished with a rolling restart at the new --replicas, and stop a replaced member before its replacement starts');
    assert.match(quorumOverlapRisk(group(3, 3, 3, 4, 4)) ?? '', /5 members registered and they say replicas 3 to 4: .* 2 copies and an election counts 3 promises/);
    assert.match(quorumOverlapRisk(group(3, 3, 3, 3)) ?? '', /4 members registered and they say replicas 3: .* 2 copies and an election counts 2 promises/);
  });

  it('members without an address (not live) or without a size are not counted', () => {
    const g = group(3, 3, 3, 3);
    g.members.get('s4')!.address = '';
    assert.equal(quorumOverlapRisk(g), undefined);
    assert.equal(quorumOverlapRisk(group(undefined, undefined)), undefined);
  });
});
