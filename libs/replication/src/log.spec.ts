// ReplicaLog against a naive model (every entry in an array): epochs by run, entries held from
// heldFrom, release / compact / truncate / append in random order, lastAtOrBefore included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicaLog } from './log';
import { prng } from './simulation';
import type { Entry } from './types';

test('ReplicaLog keeps every position\'s epoch and the held entries, whatever is released, compacted or truncated', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = prng(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const log = new ReplicaLog();
    // The model: base, every entry after it, and how far memory was released.
    let base = 0;
    let baseEpoch = 0;
    let model: Entry[] = [];
    let released = 0;
    let epoch = 1;
    const check = (what: string) => {
      const last = base + model.length;
      assert.equal(log.lastPosition, last, `${what}: last`);
      assert.equal(log.snapshotPosition, base, `${what}: base`);
      assert.equal(log.heldFrom, Math.max(released, base) + 1, `${what}: heldFrom`);
      for (let p = base; p <= last + 1; p++) {
        const want = p === base ? baseEpoch : model[p - base - 1]?.epoch;
        assert.equal(log.epochAt(p), want, `${what}: epoch at ${p} (seed ${seed})`);
        assert.equal(log.entry(p), p > Math.max(released, base) && p <= last ? model[p - base - 1] : undefined, `${what}: entry ${p}`);
      }
      for (let k = 0; k < 5; k++) {
        const pos = int(Math.max(0, base - 2), last + 2);
        const ep = int(0, epoch + 1);
        let q = Math.min(pos, last);
        if (q >= base) {
          while (q > base && model[q - base - 1]!.epoch > ep) q--;
          if (q === base && baseEpoch > ep) q = base - 1;
        }
        assert.equal(log.lastAtOrBefore(pos, ep), q, `${what}: lastAtOrBefore(${pos}, ${ep}) (seed ${seed})`);
      }
    };
    for (let step = 0; step < 60; step++) {
      const r = rnd();
      const last = base + model.length;
      if (r < 0.45) {
        if (rnd() < 0.3) epoch += int(1, 2);
        const n = int(1, 4);
        const es: Entry[] = Array.from({ length: n }, (_, i) => ({ epoch, position: last + 1 + i, data: new Uint8Array([i]) }));
        log.append(es);
        model.push(...es);
        check('append');
      } else if (r < 0.65 && last > base) {
        const p = int(base + 1, last);
        log.release(p);
        released = Math.max(released, p);
        check(`release ${p}`);
      } else if (r < 0.8 && last > base) {
        const p = int(base + 1, last);
        const e = model[p - base - 1]!.epoch;
        log.compact(p);
        model = model.slice(p - base);
        base = p;
        baseEpoch = e;
        check(`compact ${p}`);
      } else if (last > Math.max(released, base)) {
        const p = int(Math.max(released, base) + 1, last);
        log.truncateFrom(p);
        model.length = p - base - 1;
        check(`truncate ${p}`);
      }
    }
  }
});

test('a released entry is not sliced from memory, and truncating below what was released is refused', () => {
  const log = new ReplicaLog(0, 0, [1, 2, 3, 4].map((p) => ({ epoch: 1, position: p, data: new Uint8Array([p]) })));
  log.release(2);
  assert.deepEqual(log.slice(3, 4).map((e) => e.position), [3, 4]);
  assert.throws(() => log.slice(2, 4), /LOG_RELEASED|not held/);
  assert.throws(() => log.truncateFrom(2), /released/);
  assert.deepEqual(log.positions(), [[1, 1], [1, 2], [1, 3], [1, 4]]);
});

test('a long log released a little at a time (as a master does per commit) keeps the right entries held', () => {
  // Releases move an offset and the array is copied down only now and then: this runs far
  // past that point (thousands of entries) and checks every held entry after each step.
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = prng(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const log = new ReplicaLog();
    const model: Entry[] = [];
    let released = 0;
    for (let step = 0; step < 400; step++) {
      const last = model.length;
      const r = rnd();
      if (r < 0.5) {
        const n = int(1, 64);
        const es: Entry[] = Array.from({ length: n }, (_, i) => ({ epoch: 1, position: last + 1 + i, data: new Uint8Array([step & 255]) }));
        log.append(es);
        model.push(...es);
      } else if (r < 0.95 && last > released) {
        released = int(released + 1, last);
        log.release(released);
      } else if (last > released) {
        const p = int(released + 1, last);
        log.truncateFrom(p);
        model.length = p - 1;
      }
      const end = model.length;
      assert.equal(log.heldFrom, released + 1, `seed ${seed} step ${step}: heldFrom`);
      assert.equal(log.lastPosition, end);
      assert.deepEqual(log.slice(released + 1, end), model.slice(released, end), `seed ${seed} step ${step}: held entries`);
      assert.deepEqual(log.all(), model.slice(released, end));
      if (end > released) {
        const p = int(released + 1, end);
        assert.equal(log.entry(p), model[p - 1]);
        assert.equal(log.epochAt(p), 1);
      }
      assert.equal(log.entry(released), undefined);
    }
    assert.ok(model.length > 2_000, `seed ${seed}: the log grew past the copy-down point (${model.length})`);
  }
});
