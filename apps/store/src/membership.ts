// The store's ZooKeeper presence (coordination.proto's layout): an ephemeral member znode
//   <zkPath>/groups/<group>/members/<node.id>  = MemberInfo JSON {id, address, weight, pid, httpPort, replicas}
// on the store's OWN session (its liveness is that session), plus read-only watches on the
// group's members (for the master's member list) and master znode (to rejoin by itself), and
// the group's epoch znode: the epoch the coordinator published, above which this store promises
// nothing (a forged Prepare/Hello/Append with a higher epoch would fence the group for good).
//
// Fencing (docs/reliability.md, D6): a master whose connection drops (disconnected: the
// session may still live) is told so (onDisconnected) and decides itself whether to serve on;
// once the session timeout has passed without a reconnect (lost: the session has probably
// expired) it stops serving (onSessionInDoubt), but the client keeps reconnecting with the
// same session: ZooKeeper decides. A reconnect into the live session (onReconnected) lets it
// resume if nothing moved; otherwise — and when the session is gone (expired) — it stops
// acting as master (onLost), drops that session, so its znode goes and the coordinator
// elects, and registers again on a new session, retrying until ZooKeeper answers.
import { connect, ZkError, type ZkClient } from '@hawser/zk';
import { warnEvery, type Logger } from '@hawser/observability';

export interface MemberData { id: string; address: string; weight: number; pid: number; httpPort: number; replicas: number }
export interface MasterZnode { id: string; address: string; epoch: number }

export interface MembershipOptions {
  address: string;
  root: string;
  group: string;
  id: string;
  sessionTimeoutMs: number;
  log: Logger;
  data(): MemberData;
  /** Is this store acting as master right now (its fence must be immediate)? */
  isMaster(): boolean;
  /** The session is gone (expired, closed) or given up: stop acting as master. */
  onLost(why: string): void;
  /** Master: the connection dropped; the session may still live (Curator's SUSPENDED). */
  onDisconnected?(): void;
  /** Master: disconnected for the whole session timeout; the client keeps trying (Curator's LOST). */
  onSessionInDoubt?(): void;
  /**
   * Reconnected into the same session after onDisconnected. Resolves false to give the
   * session up (onLost follows, then a new session and so an election); true keeps it.
   */
  onReconnected?(): Promise<boolean>;
  /** The group's published epoch (the epoch znode) was read: it may be above this master's. */
  onEpoch?(epoch: number): void;
  onMembers?(ids: string[]): void;
  onMaster?(m: MasterZnode): void;
}

export class Membership {
  private zk: ZkClient | null = null;
  private stopped = false;
  private members: string[] = [];
  private generation = 0;
  private readonly warn: ReturnType<typeof warnEvery>;
  registered = false;
  /** The group's epoch as the coordinator published it (<group>/epoch), last read; undefined before the first read. */
  publishedEpoch: number | undefined;
  private epochRead: Promise<number> | null = null;

  constructor(private readonly o: MembershipOptions) {
    this.warn = warnEvery(o.log, 5000);
  }

  get groupPath(): string { return `${this.o.root === '/' ? '' : this.o.root}/groups/${this.o.group}`; }
  get memberPath(): string { return `${this.groupPath}/members/${this.o.id}`; }
  knownMembers(): string[] { return this.members.slice(); }

  /** Registers (resolves once registered, or keeps trying in the background after `waitMs`). */
  async start(waitMs = 15_000): Promise<void> {
    const done = this.loop();
    await Promise.race([done, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  private async loop(): Promise<void> {
    let delay = 100;
    while (!this.stopped && !this.registered) {
      try {
        await this.session();
        return;
      } catch (e) {
        this.warn('register', { err: (e as Error).message, zk: this.o.address }, 'cannot register in ZooKeeper; retrying');
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  /** One session: connect, register, watch; on loss, fence and start over. */
  private async session(): Promise<void> {
    const gen = ++this.generation;
    // The session outlives a disconnection as long as ZooKeeper keeps it: the client does not
    // decide on its own that it expired (a quorum loss longer than the timeout need not end it).
    const zk = await connect(this.o.address, { sessionTimeoutMs: this.o.sessionTimeoutMs, waitForServerExpiry: true });
    if (this.stopped) { await zk.close(); return; }
    this.zk = zk;
    const current = () => gen === this.generation && !this.stopped;
    const lost = (why: string) => {
      if (!current()) return;
      const master = this.o.isMaster();
      this.generation++;
      this.registered = false;
      this.o.onLost(why);
      this.o.log.warn({ why, master }, 'ZooKeeper session lost: registering again on a new session');
      void zk.close();
      this.zk = null;
      void this.loop();
    };
    // A slave waits for the session to come back or expire; a master is told each step.
    zk.on('disconnected', () => {
      if (!current() || !this.o.isMaster()) return;
      this.o.log.warn({ session: zk.sessionId, timeoutMs: zk.sessionTimeoutMs }, 'disconnected from ZooKeeper while master; the session may still live');
      if (this.o.onDisconnected) this.o.onDisconnected();
      else lost('disconnected');
    });
    zk.on('lost', () => {
      if (!current() || !this.o.isMaster()) return;
      this.o.log.warn({ session: zk.sessionId, timeoutMs: zk.sessionTimeoutMs }, 'no ZooKeeper for the whole session timeout while master; still trying the same session');
      this.o.onSessionInDoubt?.();
    });
    zk.on('connected', () => {
      if (!current()) return;
      this.o.log.info({ session: zk.sessionId }, 'reconnected to ZooKeeper in the same session');
      if (!this.o.onReconnected) return;
      this.o.onReconnected().then(
        (keep) => { if (!keep) lost('given up after reconnecting'); },
        (e: Error) => { this.o.log.warn({ err: e.message }, 'cannot decide on the reconnected session; giving it up'); lost('given up after reconnecting'); },
      );
    });
    zk.on('expired', () => lost('expired'));
    zk.on('closed', () => lost('closed'));
    try {
      await zk.mkdirp(`${this.groupPath}/members`);
      const data = JSON.stringify(this.o.data());
      try {
        await zk.create(this.memberPath, data, 'ephemeral');
      } catch (e) {
        if (!(e instanceof ZkError && e.code === 'NODE_EXISTS')) throw e;
        // A znode of an older session of ours (a restart, or the session we just dropped):
        // replace it so the coordinator sees this life (and elects if that one was master).
        const old = await zk.get(this.memberPath).catch(() => null);
        if (old && old.stat.ephemeralOwner !== zk.sessionId) {
          this.o.log.warn({ path: this.memberPath, owner: old.stat.ephemeralOwner }, 'replacing the member znode of an older session');
          await zk.delete(this.memberPath).catch(() => undefined);
          await zk.create(this.memberPath, data, 'ephemeral');
        }
      }
      this.registered = true;
      this.o.log.info({ path: this.memberPath, session: zk.sessionId, timeoutMs: zk.sessionTimeoutMs }, 'registered in ZooKeeper');
      this.watchMembers(zk, gen);
      this.watchMaster(zk, gen);
      this.watchEpoch(zk, gen);
    } catch (e) {
      if (gen === this.generation) { this.generation++; void zk.close(); this.zk = null; }
      throw e;
    }
  }

  private watchMembers(zk: ZkClient, gen: number): void {
    if (gen !== this.generation || this.stopped) return;
    zk.children(`${this.groupPath}/members`, () => this.watchMembers(zk, gen)).then(
      (ids) => { this.members = ids; this.o.onMembers?.(ids); },
      (e: Error) => this.warn('members', { err: e.message }, 'cannot read the group members'),
    );
  }

  private watchMaster(zk: ZkClient, gen: number): void {
    if (gen !== this.generation || this.stopped) return;
    const path = `${this.groupPath}/master`;
    const rearm = () => this.watchMaster(zk, gen);
    zk.exists(path, rearm).then(async (stat) => {
      if (!stat) return;
      const m = await zk.getJson<MasterZnode>(path);
      if (m.value?.id && m.value.address) this.o.onMaster?.(m.value);
    }).catch((e: Error) => this.warn('master', { err: e.message }, 'cannot read the master znode'));
  }

  private watchEpoch(zk: ZkClient, gen: number): void {
    if (gen !== this.generation || this.stopped) return;
    const path = `${this.groupPath}/epoch`;
    zk.exists(path, () => this.watchEpoch(zk, gen)).then(async (stat) => {
      if (!stat) { this.publishedEpoch = Math.max(this.publishedEpoch ?? 0, 0); return; }
      const n = await zk.get(path);
      this.publishedEpoch = Math.max(this.publishedEpoch ?? 0, Number(n.data.toString('utf8').trim()) || 0);
      this.o.onEpoch?.(this.publishedEpoch);
    }).catch((e: Error) => this.warn('epoch', { err: e.message }, 'cannot read the group epoch znode'));
  }

  /**
   * Reads the group's published epoch now (coalesced: one read in flight). Rejects when
   * ZooKeeper cannot be asked: nothing above what is known may be promised then.
   */
  readEpoch(): Promise<number> {
    const zk = this.zk;
    if (!zk || !zk.connected) return Promise.reject(new Error('not connected to ZooKeeper: cannot check the group epoch'));
    // sync first: the coordinator's bump may have gone through another server of the ensemble
    this.epochRead ??= zk.sync(`${this.groupPath}/epoch`).catch(() => undefined).then(() => zk.get(`${this.groupPath}/epoch`)).then(
      (n) => Number(n.data.toString('utf8').trim()) || 0,
      (e: unknown) => { if (e instanceof ZkError && e.code === 'NO_NODE') return 0; throw e; },
    ).then((epoch) => {
      this.publishedEpoch = Math.max(this.publishedEpoch ?? 0, epoch);
      return this.publishedEpoch;
    }).finally(() => { this.epochRead = null; });
    return this.epochRead;
  }

  /**
   * Reads the master znode and this store's member znode now (after a sync): whether this
   * store is still the recorded master of `epoch` and still registered on this session.
   */
  async readMaster(): Promise<{ master: MasterZnode | null; memberOwned: boolean }> {
    const zk = this.zk;
    if (!zk || !zk.connected) throw new Error('not connected to ZooKeeper: cannot read the master znode');
    await zk.sync(`${this.groupPath}/master`).catch(() => undefined);
    const master = await zk.getJson<MasterZnode>(`${this.groupPath}/master`).then((n) => n.value, (e: unknown) => {
      if (e instanceof ZkError && e.code === 'NO_NODE') return null;
      throw e;
    });
    const member = await zk.exists(this.memberPath);
    return { master, memberOwned: !!member && member.ephemeralOwner === zk.sessionId };
  }

  /** Rewrites the member znode (e.g. the HTTP port became known). */
  async update(): Promise<void> {
    if (!this.zk || !this.registered) return;
    await this.zk.set(this.memberPath, JSON.stringify(this.o.data())).catch(() => undefined);
  }

  /** Test hook: drop the session as if it had expired. */
  async dropSession(): Promise<void> {
    const zk = this.zk;
    if (zk) await zk.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    const zk = this.zk;
    this.zk = null;
    if (zk) await zk.close();
  }
}
