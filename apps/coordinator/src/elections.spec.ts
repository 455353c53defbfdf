// gatherPromises: when an election stops waiting for Prepare answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberPromise } from '@hawser/election';
import { gatherPromises } from './elections';

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
