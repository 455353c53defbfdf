// A promise wrapper around the `rocksdb` package (callback API, no bundled types).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rocksdb = require('rocksdb') as (location: string) => RawDb;

type Cb<T = void> = (err: Error | undefined | null, value?: T) => void;

interface RawIterator {
  next(cb: (err: Error | undefined | null, key?: Buffer | string, value?: Buffer | string) => void): void;
  end(cb: Cb): void;
}

interface RawDb {
  open(options: Record<string, unknown>, cb: Cb): void;
  close(cb: Cb): void;
  get(key: string | Buffer, options: Record<string, unknown>, cb: Cb<Buffer | string>): void;
  batch(ops: BatchOp[], options: Record<string, unknown>, cb: Cb): void;
  /** A chained batch: each put and del goes to the native batch as it is called. */
  batch(): RawBatch;
  clear(options: Record<string, unknown>, cb: Cb): void;
  iterator(options: Record<string, unknown>): RawIterator;
}

interface RawBatch {
  put(key: string | Buffer, value: string | Buffer): RawBatch;
  del(key: string | Buffer): RawBatch;
  write(options: Record<string, unknown>, cb: Cb): void;
}

export type BatchOp = { type: 'put'; key: string | Buffer; value: string | Buffer } | { type: 'del'; key: string | Buffer };

export interface RangeOptions {
  gt?: string; gte?: string; lt?: string; lte?: string;
  limit?: number; reverse?: boolean; keys?: boolean; values?: boolean;
}

/** Open RocksDB errors carry a code so the shell can say what to do. */
export class RocksError extends Error {
  readonly code = 'STORE_DISK';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RocksError';
  }
}

/**
 * A call after close() began: refused here, never handed to the binding. The `rocksdb` binding
 * does not guard its own lifecycle: a get, batch or clear once its close has run is a
 * use-after-free (SIGSEGV), a batch racing the close aborts in RocksDB ("pthread lock: Invalid
 * argument", SIGABRT), and a second close deletes the DB twice (assertion, SIGABRT).
 */
export class RocksClosedError extends Error {
  readonly code = 'STORE_CLOSED';
  constructor(location: string, op: string) {
    super(`RocksDB at ${location} is closed (${op} after close)`);
    this.name = 'RocksClosedError';
  }
}

export interface RocksMemory { writeBufferBytes: number; cacheBytes: number }
export const DEFAULT_ROCKS_MEMORY: RocksMemory = { writeBufferBytes: 64 * 1024 * 1024, cacheBytes: 32 * 1024 * 1024 };

export class Rocks {
  /** Set by the first close(): every later call is refused (RocksClosedError), close() returns it. */
  private closing: Promise<void> | null = null;

  private constructor(private readonly db: RawDb, readonly location: string) {}

  /** close() was called: no call reaches the binding any more. */
  get closed(): boolean { return this.closing !== null; }

  /**
   * `memory`: RocksDB's own memory (journal.writeBufferBytes, journal.cacheBytes). The defaults
   * are bigger memtables than the binding's 4 MiB: fewer flushes and L0 compactions under load.
   * A memtable can fill before it is flushed and a second one fills meanwhile, so RocksDB holds
   * up to about 2 × writeBufferBytes + cacheBytes of the store's RSS by design.
   */
  static open(location: string, memory: RocksMemory = DEFAULT_ROCKS_MEMORY): Promise<Rocks> {
    const db = rocksdb(location);
    return new Promise((resolve, reject) => {
      db.open({ createIfMissing: true, writeBufferSize: memory.writeBufferBytes, cacheSize: memory.cacheBytes }, (err) => {
        if (err) reject(new RocksError(`cannot open RocksDB at ${location}: ${err.message} (is another store using this node.dataDir?)`, { cause: err }));
        else resolve(new Rocks(db, location));
      });
    });
  }

  /**
   * Closes once, whoever calls it and however often. The binding runs the close after the
   * gets, batches and clears already handed to it, and ends open iterators (a range in
   * progress then stops with RocksClosedError).
   */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
    return this.closing;
  }

  get(key: string): Promise<Buffer | undefined> {
    if (this.closing) return Promise.reject(new RocksClosedError(this.location, 'get'));
    return new Promise((resolve, reject) => {
      this.db.get(key, { asBuffer: true, fillCache: true }, (err, value) => {
        if (err) {
          if (/NotFound/i.test(err.message)) resolve(undefined);
          else reject(err);
        } else resolve(value as Buffer);
      });
    });
  }

  /** A failed write (disk full, read-only, I/O error) rejects with a RocksError naming the directory. */
  batch(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.closing) return Promise.reject(new RocksClosedError(this.location, 'write'));
    return new Promise((resolve, reject) => {
      // The chained form: the array form had the binding read each op's type, key and value
      // back out of its object, and abstract-leveldown copy every op first — 95 µs of the main
      // thread for a batch of 64 against 60 chained (docs/benchmarks.md, session 21).
      const b = this.db.batch();
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value);
        else b.del(op.key);
      }
      b.write({ sync }, (err) => {
        if (err) reject(new RocksError(`RocksDB write failed in ${this.location}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  /** Deletes every key in a range (RocksDB's range delete, off the main thread). */
  clear(range: { gte: string; lt: string }): Promise<void> {
    if (this.closing) return Promise.reject(new RocksClosedError(this.location, 'clear'));
    return new Promise((resolve, reject) => this.db.clear(range, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Reads a key range in order (keys as strings, values as Buffers). A visitor that returns a
   * promise is awaited before the next key is read (back-pressure for streaming); returning
   * (or resolving to) false stops the scan.
   */
  async range(opts: RangeOptions, visit: (key: string, value: Buffer) => boolean | void | Promise<boolean | void>): Promise<void> {
    if (this.closing) throw new RocksClosedError(this.location, 'read');
    const it = this.db.iterator({ keyAsBuffer: false, valueAsBuffer: true, ...opts, limit: opts.limit ?? -1 });
    try {
      for (;;) {
        // Closed meanwhile: the binding has ended the iterator; a partial scan is not a complete one.
        if (this.closing) throw new RocksClosedError(this.location, 'read');
        const kv = await new Promise<[string, Buffer] | null>((resolve, reject) => {
          it.next((err, key, value) => {
            if (err) reject(err);
            else if (key === undefined) resolve(null);
            else resolve([key as string, value as Buffer]);
          });
        });
        if (!kv) return;
        const r = visit(kv[0], kv[1]);
        if ((r instanceof Promise ? await r : r) === false) return;
      }
    } finally {
      // An iterator the close ended never calls back from end().
      if (!this.closing) await new Promise<void>((resolve) => it.end(() => resolve()));
    }
  }
}
