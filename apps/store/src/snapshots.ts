// Snapshots between the members of a replicated group. A master serves its indexes at one
// RocksDB snapshot (Replication.Snapshot); a slave that lacks entries the master has compacted
// away fetches one into an on-disk staging area (SnapshotStaging), offers it to the replication
// core (installSnapshot), and the journal's writer installs it when the core resets its log
// (resetLog). The journal keeps its own positions; this file owns the transfer and the staging.
import type { Logger } from '@hawser/observability';
import type { SnapshotChunk, SnapshotRequest } from '@hawser/proto';
import { grpc } from '@hawser/proto';
import type { RocksJournal } from './journal';
import type { ReplicationLinks } from './links';
import { SnapshotStaging } from './snapshot-staging';

/** The replication options a snapshot transfer reads (ReplicationOptions has them). */
export interface SnapshotOptions {
  id: string;
  group: string;
  fsync: boolean;
  log: Logger;
}

/** What a snapshot transfer needs of the replicated journal around it. */
export interface SnapshotJournal {
  readonly journal: RocksJournal;
  readonly links: ReplicationLinks;
  /** Rate-limited warnings (shared with the journal's). */
  warn(key: string, fields: Record<string, unknown>, msg: string): void;
  /** The address of a member (Assign, ZooKeeper), if known. */
  addressOf(id: string): string | undefined;
  /** The journal is stopping: a fetched snapshot is not offered. */
  stopped(): boolean;
  /** Offers a fetched snapshot to the replication core (its installSnapshot event). */
  offer(s: { from: string; masterEpoch: number; position: number; epoch: number }): void;
}

/** A fetched snapshot on disk, waiting for the core's resetLog. */
export interface StagedSnapshot { staging: SnapshotStaging; epoch: number; position: number }

export class SnapshotTransfer {
  private staged: StagedSnapshot | null = null;
  private fetching = false;

  constructor(private readonly o: SnapshotOptions, private readonly j: SnapshotJournal) {}

  /** Removes the staging area of a fetch or install cut short by a crash. */
  removeLeftover(): void {
    SnapshotStaging.removeLeftover(this.j.journal.db.location);
  }

  /** The core's resetLog takes the staged snapshot (null: none is staged). */
  take(): StagedSnapshot | null {
    const s = this.staged;
    this.staged = null;
    return s;
  }

  onOffer(from: string, masterEpoch: number, position: number): void {
    if (this.fetching) return;
    const links = this.j.links;
    const address = this.j.addressOf(from) ?? (links.following?.masterId === from ? links.following.address : undefined);
    if (!address) { this.j.warn('snapAddr', { from }, 'snapshot offered by a master whose address is unknown'); return; }
    this.fetching = true;
    this.o.log.info({ from, position }, 'fetching a snapshot from the master');
    void this.fetch(from, address, masterEpoch, position).finally(() => { this.fetching = false; });
  }

  /** Streams the master's snapshot into the on-disk staging area, then offers it to the core. */
  private async fetch(from: string, address: string, masterEpoch: number, position: number): Promise<void> {
    let staging: SnapshotStaging | undefined;
    try {
      staging = await SnapshotStaging.create(this.j.journal.db.location);
      const st = staging;
      const at = await this.j.links.fetchSnapshot(address, { group: this.o.group, from: this.o.id, epoch: masterEpoch, position }, (items) => st.add(items));
      if (this.j.stopped()) return;
      this.staged = { staging: st, epoch: at.epoch, position: at.position };
      this.o.log.info({ from, position: at.position, epoch: at.epoch, keys: st.size }, 'snapshot fetched');
      this.j.offer({ from, masterEpoch, position: at.position, epoch: at.epoch });
      // resetLog took it (the install removes it when done), or the core did not need it.
      if (this.staged?.staging === st) this.staged = null;
      else staging = undefined;
    } catch (err) {
      this.j.warn('snapFail', { from, err: (err as Error).message }, 'snapshot fetch failed (the master offers it again)');
    } finally {
      await staging?.destroy();
    }
  }

  /** Replication.Snapshot: this store's indexes at one RocksDB snapshot. */
  async serve(call: grpc.ServerWritableStream<SnapshotRequest, SnapshotChunk>): Promise<void> {
    try {
      if (call.request.group && call.request.group !== this.o.group) throw Object.assign(new Error(`group ${this.o.group}, not ${call.request.group}`), { code: grpc.status.INVALID_ARGUMENT });
      // A chunk waits for the stream to drain before the next is read: a slow slave slows
      // the reader instead of the whole snapshot piling up in this process.
      const at = await this.j.journal.snapshot((items) => {
        if (call.cancelled) throw new Error('the slave cancelled the snapshot');
        if (call.write({ epoch: 0, position: 0, items, last: false })) return undefined;
        return new Promise<void>((resolve) => call.once('drain', resolve));
      });
      call.write({ epoch: at.epoch, position: at.position, items: [], last: true });
      call.end();
      this.o.log.info({ to: call.request.from, position: at.position }, 'snapshot sent');
    } catch (e) {
      call.destroy(e as Error);
    }
  }

  /** The writer's reset: the staged snapshot replaces the indexes on disk, and its staging area goes. */
  async install(w: { epoch: number; position: number; staging: SnapshotStaging }): Promise<void> {
    try {
      await this.j.journal.install(w.staging.source(), w.epoch, w.position, this.o.fsync);
    } finally {
      await w.staging.destroy();
    }
  }
}
