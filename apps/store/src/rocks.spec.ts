// The RocksDB wrapper's lifecycle (docs/reliability.md D3): nothing reaches the binding after
// close() began. Unguarded, each case below crashed the process: a second close deleted the DB
// twice (assertion `last_ref`, SIGABRT), a batch racing the close aborted in RocksDB ("pthread
// lock: Invalid argument", SIGABRT), a get or clear after it was a use-after-free (SIGSEGV),
// and a range cut by the close never settled.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rocks, RocksClosedError, type BatchOp } from './rocks';

const base = mkdtempSync(join(tmpdir(), 'hawser-rocks-spec-'));
after(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
async function filled(keys = 2000): Promise<Rocks> {
  const db = await Rocks.open(join(base, `db${++n}`), { writeBufferBytes: 1 << 20, cacheBytes: 1 << 20 });
  const value = Buffer.alloc(1000, 1);
  for (let i = 0; i < keys; i += 500) {
    const ops: BatchOp[] = [];
    for (let j = i; j < i + 500; j++) ops.push({ type: 'put', key: `k${String(j).padStart(6, '0')}`, value });
    await db.batch(ops, false);
  }
  return db;
}

const closedError = (e: unknown) => e instanceof RocksClosedError && e.code === 'STORE_CLOSED';

test('close twice (at once, and again later) closes once', async () => {
  const db = await filled(10);
  const a = db.close();
  const b = db.close();
  assert.equal(a, b);
  await Promise.all([a, b]);
  await db.close();
  assert.ok(db.closed);
});

test('a write, get or clear after close() began is refused, never handed to RocksDB', async () => {
  const db = await filled(10);
  const closing = db.close();
  await assert.rejects(db.batch([{ type: 'put', key: 'late', value: 'x' }], true), closedError);
  await assert.rejects(db.get('k000001'), closedError);
  await assert.rejects(db.clear({ gte: 'k', lt: 'l' }), closedError);
  await closing;
  await assert.rejects(db.batch([{ type: 'put', key: 'later', value: 'x' }], true), closedError);
  await assert.rejects(db.get('k000001'), closedError);
});

test('a write already handed over completes, then the close runs', async () => {
  const db = await filled(10);
  const write = db.batch([{ type: 'put', key: 'inflight', value: Buffer.alloc(100_000) }], true);
  const closing = db.close();
  await write;
  await closing;
});

test('a range cut by close() rejects (a partial scan is not a complete one) instead of hanging', async () => {
  const db = await filled(2000);
  let seen = 0;
  const scan = db.range({ gte: 'k', lt: 'l' }, async () => {
    if (++seen === 10) void db.close();
    await new Promise((r) => setImmediate(r));
  });
  await assert.rejects(scan, closedError);
  assert.ok(seen < 2000, `${seen} keys seen after the close`);
  await db.close();
  await assert.rejects(db.range({ gte: 'k', lt: 'l' }, () => undefined), closedError);
});

test('a batch applies its puts and deletes in order, string and Buffer keys and values alike', async () => {
  const db = await Rocks.open(join(base, `db${++n}`));
  try {
    await db.batch([{ type: 'put', key: 'a', value: 'old' }, { type: 'put', key: 'gone', value: 'x' }], false);
    await db.batch([
      { type: 'put', key: 'a', value: Buffer.from('new') },
      { type: 'del', key: 'gone' },
      { type: 'put', key: Buffer.from('b\u0000bytes'), value: Buffer.from([0, 1, 2]) },
      { type: 'put', key: 'c', value: 'first' },
      { type: 'del', key: 'c' },
      { type: 'put', key: 'd', value: 'x' },
      { type: 'del', key: 'd' },
      { type: 'put', key: 'd', value: 'last' },
    ], true);
    assert.equal((await db.get('a'))?.toString(), 'new');
    assert.equal(await db.get('gone'), undefined);
    assert.deepEqual(await db.get('b\u0000bytes'), Buffer.from([0, 1, 2]));
    assert.equal(await db.get('c'), undefined, 'a delete after a put in one batch wins');
    assert.equal((await db.get('d'))?.toString(), 'last', 'a put after a delete in one batch wins');
  } finally {
    await db.close();
  }
});
