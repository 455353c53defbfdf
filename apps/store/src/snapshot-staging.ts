// Where a slave keeps a master's snapshot while it arrives: a RocksDB of its own under
// <node.dataDir>/snapshot-staging, written chunk by chunk as the stream comes in (the gRPC
// stream is paused while a chunk is written), then read back in chunks by the install.
// A snapshot is as big as the master's backlog; staging it on disk keeps the slave's heap
// flat whatever the backlog (it used to be collected in an array). One staging area per
// store: a new fetch starts by removing whatever an interrupted one left.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyValue } from '@hawser/proto';
import { Rocks } from './rocks';
import type { SnapshotSource } from './journal';

export const STAGING_DIR = 'snapshot-staging';

export class SnapshotStaging {
  private count = 0;
  private closed = false;

  private constructor(private readonly db: Rocks, readonly dir: string) {}

  /** A fresh, empty staging area under `dataDir` (an older one is removed first). */
  static async create(dataDir: string): Promise<SnapshotStaging> {
    const dir = join(dataDir, STAGING_DIR);
    rmSync(dir, { recursive: true, force: true });
    return new SnapshotStaging(await Rocks.open(dir), dir);
  }

  /** Removes a staging area left by a process that died while fetching or installing. */
  static removeLeftover(dataDir: string): void {
    rmSync(join(dataDir, STAGING_DIR), { recursive: true, force: true });
  }

  /** Keys staged so far. */
  get size(): number { return this.count; }

  /** Stages one chunk of the stream. */
  async add(items: KeyValue[]): Promise<void> {
    if (!items.length) return;
    await this.db.batch(items.map((kv) => ({ type: 'put' as const, key: Buffer.from(kv.key).toString(), value: Buffer.from(kv.value) })), false);
    this.count += items.length;
  }

  /** The staged keys in order, in chunks of `chunkItems` (for RocksJournal.install). */
  source(chunkItems = 10_000): SnapshotSource {
    return async (put) => {
      let chunk: Array<{ key: Buffer; value: Buffer }> = [];
      await this.db.range({}, (k, v) => {
        chunk.push({ key: Buffer.from(k), value: v });
        if (chunk.length < chunkItems) return undefined;
        const full = chunk;
        chunk = [];
        return put(full);
      });
      if (chunk.length) await put(chunk);
    };
  }

  /** Closes the staging RocksDB and removes its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
