// A small promise-based adapter over the `zookeeper` package (the native C client) that
// every Hawser service uses. It hides the callback API, maps return codes to named errors,
// makes every watch a one-shot callback, and reports the session state as events:
//   'connected'     (re)connected within the same session
//   'disconnected'  the connection dropped; the session may still be alive on the server
//                   (Curator's SUSPENDED). The client reconnects by itself, to any server.
//   'lost'          (waitForServerExpiry only) disconnected for the whole session timeout:
//                   the session has probably expired, but the client keeps reconnecting
//                   with it and the server decides — 'connected' if it still had it (after a
//                   ZooKeeper quorum loss a new leader gives every session a fresh timeout),
//                   'expired' if not (Curator's LOST, which may also be followed by RECONNECTED).
//   'expired'       the session is gone (server said so, or — without waitForServerExpiry —
//                   we stayed disconnected for the whole session timeout): every ephemeral
//                   znode of ours is (or soon is) deleted and every watch is lost. The client
//                   is closed after this.
//   'closed'        close() finished, or the client closed after expiry.
import { EventEmitter } from 'node:events';
import ZooKeeper from 'zookeeper';
import { zkError, ZkClosedError, ZkConnectionLossError, ZkError, ZkSessionExpiredError } from './errors';
import { aclFor, sameAcl, zkAuth, type Acl } from './acl';

export type CreateMode = 'persistent' | 'ephemeral' | 'persistent_sequential' | 'ephemeral_sequential';
// zookeeper.h: ZOO_EPHEMERAL = 1, ZOO_SEQUENCE = 2
const CREATE_FLAGS: Record<CreateMode, number> = { persistent: 0, ephemeral: 1, persistent_sequential: 2, ephemeral_sequential: 3 };

export interface ZkStat {
  czxid: number;
  mzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  /** session id (hex) of the owner of an ephemeral znode, "0" otherwise */
  ephemeralOwner: string;
  dataLength: number;
  numChildren: number;
  pzxid: number;
}

export interface ZkNode { data: Buffer; version: number; stat: ZkStat }

export type WatchEventType = 'created' | 'deleted' | 'changed' | 'child' | 'notwatching';
export interface WatchEvent { type: WatchEventType; path: string }
/** A one-shot watch: called at most once, for the first change after the read that set it. */
export type Watcher = (event: WatchEvent) => void;

export type SessionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

export interface ZkConnectOptions {
  /** requested session timeout; the server clamps it to [2, 20] x tickTime (default 4000) */
  sessionTimeoutMs?: number;
  /** how long connect() waits for the first connection (default max(10 s, 2 x session timeout)) */
  connectTimeoutMs?: number;
  /** C client log level on stderr: 0 off (default), 1 error, 2 warn, 3 info, 4 debug */
  logLevel?: number;
  /**
   * ZooKeeper digest authentication, "user:password" (ActiveMQ's zkPassword): sent with
   * addAuthInfo on connect, and every znode this client creates at or below `secureRoot` gets
   * the ACL digest(user) = all rights, world = read (acl.ts). Empty: open ACLs, as before.
   */
  auth?: string;
  /** The subtree whose znodes are Hawser's (zk.path; default '/': all the client creates). */
  secureRoot?: string;
  /**
   * Disconnected for the whole session timeout: false (default) takes the session as expired
   * ('expired', then the client closes); true emits 'lost' and keeps reconnecting with the
   * same session until the server says whether it still lives ('connected' or 'expired').
   */
  waitForServerExpiry?: boolean;
}

// zookeeper.h event types
const EVENT_TYPES: Record<number, WatchEventType> = { 1: 'created', 2: 'deleted', 3: 'changed', 4: 'child', [-2]: 'notwatching' };
const SESSION_EVENT = -1;

type Cb = (rc: number, error: string, ...result: unknown[]) => void;
type WatchCb = (type: number, state: number, path: string) => void;
interface NativeHandle extends EventEmitter {
  init(config: object): unknown;
  close(): unknown;
  a_create(path: string, data: string | Buffer, flags: number, cb: Cb): number;
  a_exists(path: string, watch: boolean, cb: Cb): number;
  aw_exists(path: string, w: WatchCb, cb: Cb): number;
  a_get(path: string, watch: boolean, cb: Cb): number;
  aw_get(path: string, w: WatchCb, cb: Cb): number;
  a_get_children(path: string, watch: boolean, cb: Cb): number;
  aw_get_children(path: string, w: WatchCb, cb: Cb): number;
  a_set(path: string, data: string | Buffer, version: number, cb: Cb): number;
  a_delete_(path: string, version: number, cb: Cb): number;
  a_get_acl(path: string, cb: Cb): number;
  a_set_acl(path: string, version: number, acl: Array<{ perm: number; scheme: string; auth: string }>, cb: Cb): number;
  add_auth(scheme: string, auth: string, cb: Cb): number;
  a_sync(path: string, cb: Cb): number;
  readonly timeout: number;
  readonly client_id: string;
}

export class ZkClient extends EventEmitter {
  private readonly zk: NativeHandle;
  private _state: SessionState = 'connecting';
  private expiryTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** The ACL of znodes this client creates under secureRoot (null: ZooKeeper's open ACL). */
  readonly acl: Acl | null;
  private readonly secureRoot: string;
  private _lost = false;

  private constructor(readonly connectString: string, readonly requestedTimeoutMs: number, logLevel: number, private readonly auth = '', secureRoot = '/', private readonly waitForServerExpiry = false) {
    super();
    const Ctor = ZooKeeper as unknown as new (config: object) => NativeHandle;
    this.zk = new Ctor({ connect: connectString, timeout: requestedTimeoutMs, debug_level: logLevel, host_order_deterministic: false });
    this.zk.on('connect', () => this.onConnected());
    this.zk.on('connecting', () => this.onDisconnected());
    this.zk.on('close', (code: unknown) => this.onClosed(typeof code === 'number' ? code : 0));
    this.zk.on('error', () => { /* init errors surface through connect()'s deadline */ });
    this.acl = auth ? aclFor(auth) : null;
    this.secureRoot = secureRoot === '/' ? '' : secureRoot.replace(/\/$/, '');
  }

  /** Connects and resolves once the session is established. */
  static connect(connectString: string, opts: ZkConnectOptions = {}): Promise<ZkClient> {
    const timeout = opts.sessionTimeoutMs ?? 4000;
    const fallback = opts.auth === undefined ? zkAuth() : null; // this process's (useZkAuth)
    const client = new ZkClient(connectString, timeout, opts.logLevel ?? 0, opts.auth ?? fallback?.auth ?? '', opts.secureRoot ?? fallback?.root ?? '/', opts.waitForServerExpiry ?? false);
    const deadline = opts.connectTimeoutMs ?? Math.max(10_000, 2 * timeout);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        void client.close();
        reject(new ZkConnectionLossError(`cannot connect to ZooKeeper at ${connectString} within ${deadline} ms (is it running? check zk.address)`));
      }, deadline);
      const onConnected = () => {
        cleanup();
        if (!client.auth) { resolve(client); return; }
        // The C client sends the auth info again by itself after a reconnect.
        client.addAuth().then(() => resolve(client), (e: Error) => { void client.close(); reject(e); });
      };
      const onClosed = () => { cleanup(); reject(new ZkClosedError(`ZooKeeper client for ${connectString} closed while connecting`)); };
      const cleanup = () => { clearTimeout(timer); client.off('connected', onConnected); client.off('closed', onClosed); };
      client.on('connected', onConnected);
      client.on('closed', onClosed);
      try {
        client.zk.init({});
      } catch (e) {
        cleanup();
        reject(new ZkError(`cannot start the ZooKeeper client for ${connectString}: ${String(e)}`, 'ZK_ERROR', 0, undefined, { cause: e }));
      }
    });
  }

  get state(): SessionState { return this._state; }
  /** The session timeout the server granted (ms). */
  get sessionTimeoutMs(): number { return this.zk.timeout > 0 ? this.zk.timeout : this.requestedTimeoutMs; }
  get sessionId(): string { return String(this.zk.client_id ?? ''); }
  get connected(): boolean { return this._state === 'connected'; }
  /** Disconnected for at least the session timeout and not told yet whether the session lives ('lost'). */
  get lost(): boolean { return this._lost && this._state === 'disconnected'; }

  private onConnected(): void {
    if (this._state === 'closed' || this._state === 'expired') return;
    if (this.expiryTimer) { clearTimeout(this.expiryTimer); this.expiryTimer = undefined; }
    this._state = 'connected';
    this._lost = false;
    this.emit('connected');
  }

  private onDisconnected(): void {
    if (this._state !== 'connected') return;
    this._state = 'disconnected';
    this.emit('disconnected');
    // The server expires the session after the timeout without hearing from us; if we
    // cannot reach any server for that long, treat the session as lost ourselves (the C
    // client only learns of the expiry when it reconnects).
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      if (this._state !== 'disconnected') return;
      if (!this.waitForServerExpiry) { this.expire(); return; }
      this._lost = true;
      this.emit('lost');
    }, this.sessionTimeoutMs);
    this.expiryTimer.unref?.();
  }

  private onClosed(code: number): void {
    if (this.expiryTimer) { clearTimeout(this.expiryTimer); this.expiryTimer = undefined; }
    // zookeeper.h: ZOO_EXPIRED_SESSION_STATE = -112 (the native client also closes with it
    // when the server stopped answering). The `zookeeper` package's wrapper replaces the
    // close event's first argument (the code) with itself, so the code rarely arrives: a
    // close we did not ask for is the native client giving the session up (expired, auth
    // failed, server unresponsive) — for every user of this adapter, an expiry. Seen when a
    // frozen process (SIGSTOP, a long pause) resumes after its session timed out: the server
    // says "expired" on reconnect before our own expiry timer fires.
    if ((code === -112 || !this.closing) && this._state !== 'closed' && this._state !== 'expired') {
      this._state = 'expired';
      this.emit('expired');
    }
    if (this._state !== 'closed') {
      this._state = 'closed';
      this.emit('closed');
    }
  }

  private expire(): void {
    if (this._state === 'expired' || this._state === 'closed') return;
    this._state = 'expired';
    this.emit('expired');
    void this.close();
  }

  /** Closes the session (its ephemeral znodes are deleted at once). */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((resolve) => {
        if (this._state === 'closed') { resolve(); return; }
        // the native client emits 'close' from zookeeper_close(); settle anyway if it does not
        const t = setTimeout(() => { this.onClosed(0); }, 3000);
        this.once('closed', () => { clearTimeout(t); resolve(); });
        try { this.zk.close(); } catch { this.onClosed(0); }
      });
    }
    return this.closing;
  }

  private call<T>(path: string, start: (cb: Cb) => number, map: (result: unknown[]) => T, expectedVersion?: number): Promise<T> {
    if (this._state === 'expired') return Promise.reject(new ZkSessionExpiredError(`ZooKeeper session expired (operation on ${path})`, -112, path));
    if (this._state === 'closed') return Promise.reject(new ZkClosedError(`ZooKeeper client is closed (operation on ${path})`, -116, path));
    return new Promise<T>((resolve, reject) => {
      let rcStart: number;
      try {
        rcStart = start((rc, error, ...result) => {
          if (rc !== 0) reject(zkError(rc, error, path, expectedVersion));
          else resolve(map(result));
        });
      } catch (e) {
        reject(new ZkError(`ZooKeeper call on ${path} failed: ${String(e)}`, 'ZK_ERROR', 0, path, { cause: e }));
        return;
      }
      if (typeof rcStart === 'number' && rcStart < 0) reject(zkError(rcStart, 'request not sent', path, expectedVersion));
    });
  }

  private wrapWatch(watcher: Watcher): WatchCb {
    let fired = false;
    return (type, _state, path) => {
      // session events are reported through 'connected'/'disconnected'/'expired'
      if (type === SESSION_EVENT || fired) return;
      const t = EVENT_TYPES[type];
      if (!t) return;
      fired = true;
      try { watcher({ type: t, path }); } catch (e) { this.emit('error', e); }
    };
  }

  private addAuth(): Promise<void> {
    return this.call('/', (cb) => this.zk.add_auth('digest', this.auth, cb), () => undefined);
  }

  /** The path is Hawser's (at or below secureRoot): it carries the digest ACL. */
  private secured(path: string): boolean {
    return !!this.acl && (this.secureRoot === '' || path === this.secureRoot || path.startsWith(this.secureRoot + '/'));
  }

  /**
   * Creates a znode; returns its actual path (with the sequence suffix for sequential modes).
   * With zk.auth, a znode under secureRoot gets the digest ACL at once: the native binding
   * creates every znode with the open ACL, so the ACL is set right after, conditional on the
   * ACL version being still 0 — a client that changed it in between is detected, the znode
   * deleted and the create fails (docs/security.md: the window and how to close it).
   */
  async create(path: string, data: Buffer | string = '', mode: CreateMode = 'persistent'): Promise<string> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const made = await this.call(path, (cb) => this.zk.a_create(path, buf, CREATE_FLAGS[mode], cb), (r) => String(r[0]));
    if (this.secured(made)) {
      try {
        await this.setAcl(made, this.acl!, 0);
      } catch (e) {
        if (e instanceof ZkError && e.code === 'BAD_VERSION') {
          await this.delete(made).catch(() => undefined);
          throw new ZkError(`the ACL of ${made} was changed by another client right after it was created; deleted it (an unauthenticated client is writing to ZooKeeper: see docs/security.md)`, 'NO_AUTH', -102, made);
        }
        throw e;
      }
    }
    return made;
  }

  /**
   * Brings the server this client talks to up to date with the leader for `path` (ZooKeeper
   * sync): a read after it sees every write committed before it, even one made through
   * another server of the ensemble.
   */
  sync(path: string): Promise<void> {
    return this.call(path, (cb) => this.zk.a_sync(path, cb), () => undefined);
  }

  /** The znode's ACL and its ACL version. */
  getAcl(path: string): Promise<{ acl: Acl; aversion: number }> {
    return this.call(path, (cb) => this.zk.a_get_acl(path, cb), (r) => {
      const raw = (r[0] ?? []) as Array<{ perms?: number; perm?: number; scheme: string; auth: string }>;
      const stat = r[1] as ZkStat | undefined;
      return { acl: raw.map((a) => ({ perms: a.perms ?? a.perm ?? 0, scheme: a.scheme, auth: a.auth })), aversion: stat?.aversion ?? -1 };
    });
  }

  /** Sets the znode's ACL if its ACL version is `aversion` (-1: any). */
  setAcl(path: string, acl: Acl, aversion = -1): Promise<void> {
    const wire = acl.map((a) => ({ perm: a.perms, scheme: a.scheme, auth: a.auth }));
    return this.call(path, (cb) => this.zk.a_set_acl(path, aversion, wire, cb), () => undefined, aversion);
  }

  /**
   * Gives `path` and every znode below it this client's ACL where it differs (znodes made
   * before zk.auth was set, or by an older version): the coordinator runs it over zk.path at
   * connect. Returns how many znodes changed. No-op without zk.auth.
   */
  async secureTree(path: string): Promise<number> {
    if (!this.acl) return 0;
    let changed = 0;
    const visit = async (p: string): Promise<void> => {
      try {
        const { acl } = await this.getAcl(p);
        if (!sameAcl(acl, this.acl!)) { await this.setAcl(p, this.acl!); changed++; }
        for (const child of await this.children(p)) await visit(`${p === '/' ? '' : p}/${child}`);
      } catch (e) {
        if (e instanceof ZkError && e.code === 'NO_NODE') return; // gone meanwhile (an ephemeral)
        throw e;
      }
    };
    await visit(path);
    return changed;
  }

  /**
   * Creates every missing persistent znode of the path (like mkdir -p). With zk.auth, an
   * existing znode under secureRoot without our ACL (made before auth was on, or by a client
   * that got there first) is given it.
   */
  async mkdirp(path: string): Promise<void> {
    const parts = path.split('/').filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur += '/' + part;
      try {
        await this.create(cur, '', 'persistent');
      } catch (e) {
        if (!(e instanceof ZkError && e.code === 'NODE_EXISTS')) throw e;
        if (this.secured(cur)) {
          const { acl } = await this.getAcl(cur);
          if (!sameAcl(acl, this.acl!)) await this.setAcl(cur, this.acl!);
        }
      }
    }
  }

  /** Reads data and version; with a watcher, it is called once on the next change or deletion. */
  get(path: string, watcher?: Watcher): Promise<ZkNode> {
    const map = (r: unknown[]): ZkNode => {
      const stat = r[0] as ZkStat;
      const raw = r[1];
      const data = Buffer.isBuffer(raw) ? raw : raw == null ? Buffer.alloc(0) : Buffer.from(String(raw));
      return { data, version: stat.version, stat };
    };
    if (watcher) return this.call(path, (cb) => this.zk.aw_get(path, this.wrapWatch(watcher), cb), map);
    return this.call(path, (cb) => this.zk.a_get(path, false, cb), map);
  }

  /** get() and JSON.parse of the data. */
  async getJson<T>(path: string, watcher?: Watcher): Promise<{ value: T; version: number; stat: ZkStat }> {
    const node = await this.get(path, watcher);
    return { value: JSON.parse(node.data.toString('utf8')) as T, version: node.version, stat: node.stat };
  }

  /** Writes data if the znode's version is `version` (-1: any); a lost race rejects with ZkBadVersionError. */
  set(path: string, data: Buffer | string, version = -1): Promise<ZkStat> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.call(path, (cb) => this.zk.a_set(path, buf, version, cb), (r) => r[0] as ZkStat, version);
  }

  /** Deletes the znode if its version is `version` (-1: any). */
  delete(path: string, version = -1): Promise<void> {
    return this.call(path, (cb) => this.zk.a_delete_(path, version, cb), () => undefined, version);
  }

  /** Child names (not paths), sorted; with a watcher, called once when the set of children changes or the znode goes. */
  children(path: string, watcher?: Watcher): Promise<string[]> {
    const map = (r: unknown[]) => ((r[0] as string[] | null) ?? []).slice().sort();
    if (watcher) return this.call(path, (cb) => this.zk.aw_get_children(path, this.wrapWatch(watcher), cb), map);
    return this.call(path, (cb) => this.zk.a_get_children(path, false, cb), map);
  }

  /** The znode's stat, or null when it does not exist; a watcher fires on creation, change or deletion. */
  async exists(path: string, watcher?: Watcher): Promise<ZkStat | null> {
    try {
      if (watcher) return await this.call(path, (cb) => this.zk.aw_exists(path, this.wrapWatch(watcher), cb), (r) => r[0] as ZkStat);
      return await this.call(path, (cb) => this.zk.a_exists(path, false, cb), (r) => r[0] as ZkStat);
    } catch (e) {
      if (e instanceof ZkError && e.code === 'NO_NODE') return null;
      throw e;
    }
  }
}

/** Connects to ZooKeeper; resolves when the session is established. */
export function connect(connectString: string, opts: ZkConnectOptions = {}): Promise<ZkClient> {
  return ZkClient.connect(connectString, opts);
}
