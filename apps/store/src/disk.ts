// The data directory's filesystem: free space, measured with statfs every
// `journal.diskCheckMs`, a gauge for it, and a rate-limited warning below
// `journal.diskWarnBytes` — so an operator hears of a filling disk before RocksDB's writes
// start failing (which stops a store: store.ts `fail`). The last figure is readable by the
// store (`Store.diskFree`), e.g. for producer blocking at store limits.
import { statfs } from 'node:fs/promises';
import { warnEvery, type Logger } from '@hawser/observability';

export interface DiskFree {
  /** Bytes a process may still write (statfs bavail * bsize). */
  free: number;
  /** Size of the filesystem in bytes. */
  total: number;
  /** When measured (Date.now()). */
  at: number;
}

export interface DiskWatchOptions {
  dir: string;
  /** Warn when free bytes fall below this (0: never warn). */
  warnBytes: number;
  checkMs: number;
  log: Logger;
  /** Minimum time between two warnings (ms). */
  warnEveryMs?: number;
}

export class DiskWatch {
  private timer: NodeJS.Timeout | null = null;
  private last: DiskFree | undefined;
  private readonly warn: ReturnType<typeof warnEvery>;
  private readonly warnErr: ReturnType<typeof warnEvery>;
  private low = false;

  constructor(private readonly o: DiskWatchOptions) {
    this.warn = warnEvery(o.log, o.warnEveryMs ?? 60_000);
    this.warnErr = warnEvery(o.log, o.warnEveryMs ?? 60_000);
  }

  /** The last measurement (undefined before the first one, or when statfs fails). */
  get current(): DiskFree | undefined { return this.last; }

  /** Measures once now, then every checkMs. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => { void this.check(); }, this.o.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async check(): Promise<DiskFree | undefined> {
    try {
      const s = await statfs(this.o.dir);
      this.last = { free: s.bavail * s.bsize, total: s.blocks * s.bsize, at: Date.now() };
    } catch (e) {
      this.last = undefined;
      this.warnErr('statfs', { dataDir: this.o.dir, err: (e as Error).message }, 'cannot read the free space of the data directory\'s filesystem');
      return undefined;
    }
    const { free, total } = this.last;
    if (this.o.warnBytes > 0 && free < this.o.warnBytes) {
      this.low = true;
      this.warn('low', { dataDir: this.o.dir, freeBytes: free, totalBytes: total, warnBytes: this.o.warnBytes },
        `data directory's filesystem is nearly full (${free} bytes free, warning below journal.diskWarnBytes ${this.o.warnBytes}): free space or move node.dataDir before writes fail and the store stops`);
    } else if (this.low) {
      this.low = false;
      this.o.log.info({ dataDir: this.o.dir, freeBytes: free, warnBytes: this.o.warnBytes }, 'data directory\'s filesystem has room again');
    }
    return this.last;
  }
}
