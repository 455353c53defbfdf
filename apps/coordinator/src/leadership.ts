// Leader election among coordinators (the ZooKeeper recipe): each registers an ephemeral
// sequential znode <zkPath>/coordinators/c-<seq>; the lowest sequence leads; every other
// one watches only its predecessor (no herd effect), and re-checks when it goes away.
// Leadership ends with the session: a coordinator that is disconnected stops leading at
// once (the coordinator checks `zk.connected` too), and after expiry it registers anew.
import { EventEmitter } from 'node:events';
import { ZkError, type ZkClient } from '@hawser/zk';
import type { Logger } from '@hawser/observability';

export interface CoordinatorZnodeData { id: string; address: string; pid: number; httpPort: number }

export class Leadership extends EventEmitter {
  private node = '';
  private leader = false;
  private stopped = false;
  private checking = false;
  private recheck = false;

  constructor(private readonly zk: ZkClient, private readonly dir: string, private readonly info: CoordinatorZnodeData, private readonly log: Logger) {
    super();
  }

  get isLeader(): boolean { return this.leader && !this.stopped; }
  /** our znode name (c-<seq>) */
  get nodeName(): string { return this.node; }

  async start(): Promise<void> {
    await this.zk.mkdirp(this.dir);
    await this.register();
    await this.check();
  }

  private async register(): Promise<void> {
    const path = await this.zk.create(`${this.dir}/c-`, JSON.stringify(this.info), 'ephemeral_sequential');
    this.node = path.slice(this.dir.length + 1);
    this.log.info({ znode: path }, 'registered as coordinator');
  }

  private setLeader(v: boolean): void {
    if (v === this.leader) return;
    this.leader = v;
    this.emit('change', v);
  }

  /** Re-evaluates leadership; serialized so watch storms do not overlap. */
  async check(): Promise<void> {
    if (this.stopped) return;
    if (this.checking) { this.recheck = true; return; }
    this.checking = true;
    try {
      do {
        this.recheck = false;
        await this.checkOnce();
      } while (this.recheck && !this.stopped);
    } catch (e) {
      if (!this.stopped && !(e instanceof ZkError && (e.code === 'SESSION_EXPIRED' || e.code === 'CLOSED'))) {
        this.log.warn({ err: e }, 'leader check failed; retrying');
        setTimeout(() => void this.check(), 500).unref();
      }
    } finally {
      this.checking = false;
    }
  }

  private async checkOnce(): Promise<void> {
    const names = (await this.zk.children(this.dir)).filter((n) => n.startsWith('c-')).sort();
    if (!names.includes(this.node)) {
      // our znode is gone while the session lives (deleted by hand): register again
      this.setLeader(false);
      await this.register();
      this.recheck = true;
      return;
    }
    const i = names.indexOf(this.node);
    if (i === 0) { this.setLeader(true); return; }
    this.setLeader(false);
    const predecessor = `${this.dir}/${names[i - 1]}`;
    const st = await this.zk.exists(predecessor, () => void this.check());
    if (!st) this.recheck = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.setLeader(false);
    if (this.node && this.zk.connected) {
      try { await this.zk.delete(`${this.dir}/${this.node}`); } catch { /* the session close removes it anyway */ }
    }
  }
}
