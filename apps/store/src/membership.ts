// The store's ZooKeeper presence (coordination.proto's layout): an ephemeral member znode
//   <zkPath>/groups/<group>/members/<node.id>  = MemberInfo JSON {id, address, weight, pid, httpPort, replicas}
// on the store's OWN session (its liveness is that session), plus read-only watches on the
// group's members (for the master's member list) and master znode (to rejoin by itself), and
// the group's epoch znode: the epoch the coordinator published, above which this store promises
// nothing (a forged Prepare/Hello/Append with a higher epoch would fence the group for good).
//
// Fencing: a master that loses its session (expired) or its connection (disconnected: it
// cannot know whether the session still lives) stops acting as master at once (onLost). It
// then drops that session, so its znode goes and the coordinator elects, and registers again
// on a new session, retrying until ZooKeeper answers.
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
  /** The session is lost (or may be): stop acting as master. */
  onLost(why: string): void;
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
    const zk = await connect(this.o.address, { sessionTimeoutMs: this.o.sessionTimeoutMs });
    if (this.stopped) { await zk.close(); return; }
    this.zk = zk;
    const lost = (why: string) => {
      if (gen !== this.generation || this.stopped) return;
      const master = this.o.isMaster();
      if (why === 'disconnected' && !master) return; // a slave waits for the session to come back or expire
      this.generation++;
      this.registered = false;
      this.o.onLost(why);
      this.o.log.warn({ why, master }, 'ZooKeeper session lost: registering again on a new session');
      void zk.close();
      this.zk = null;
      void this.loop();
    };
    zk.on('disconnected', () => lost('disconnected'));
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
