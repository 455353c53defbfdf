// Active/standby between the bridge processes of one link: ZooKeeper's lock recipe.
//   <zkPath>/bridges/<link>/lock-<seq>   ephemeral sequential, data = this process's info JSON
// The lowest sequence holds the lock (the active bridge); every other process watches the
// znode just below its own (not the lowest: no herd effect) and checks again when it goes.
// A kill -9'd holder's znode goes with its ZooKeeper session (after the session timeout), so
// the standby takes over within seconds. When our own session expires we lost the lock: the
// bridge goes standby and joins the queue again with a new session.
//
// Two bridges active at once for a moment (an expiring holder that has not noticed yet) is
// safe: queue messages are taken by one consumer or the other, every forward uses the
// message's own id (the target drops duplicates), and the link's durable topic
// subscriptions can only be active on one session.
import { EventEmitter } from 'node:events';
import { connect, ZkError, type ZkClient } from '@hawser/zk';
import type { Logger } from '@hawser/observability';

export interface ActiveLock extends EventEmitter {
  /** Emits 'acquired' and 'lost'. */
  readonly held: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** No ZooKeeper (zk.address empty): this process is active at once. */
export class NoLock extends EventEmitter implements ActiveLock {
  held = false;
  async start(): Promise<void> { this.held = true; this.emit('acquired'); }
  async stop(): Promise<void> { this.held = false; }
}

export interface ZkLockOptions {
  address: string;
  root: string;
  link: string;
  sessionTimeoutMs: number;
  info: Record<string, unknown>;
  log: Logger;
}

export class ZkLock extends EventEmitter implements ActiveLock {
  held = false;
  private zk: ZkClient | undefined;
  private mine: string | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ZkLockOptions) { super(); }

  get dir(): string { return `${this.opts.root.replace(/\/$/, '')}/bridges/${this.opts.link}`; }

  async start(): Promise<void> { await this.join(); }

  private async join(): Promise<void> {
    if (this.stopped) return;
    try {
      const zk = await connect(this.opts.address, { sessionTimeoutMs: this.opts.sessionTimeoutMs });
      if (this.stopped) { await zk.close(); return; }
      this.zk = zk;
      zk.on('expired', () => this.onExpired(zk));
      await zk.mkdirp(this.dir);
      const path = await zk.create(`${this.dir}/lock-`, JSON.stringify(this.opts.info), 'ephemeral_sequential');
      this.mine = path.slice(path.lastIndexOf('/') + 1);
      this.opts.log.info({ lock: path }, 'bridge lock requested');
      await this.check();
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message, code: (e as { code?: string }).code }, 'bridge lock: ZooKeeper failed; retrying');
      this.scheduleRejoin();
    }
  }

  private scheduleRejoin(): void {
    if (this.stopped) return;
    const old = this.zk;
    this.zk = undefined;
    this.mine = undefined;
    if (old) void old.close();
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.join(), 1_000);
    this.retry.unref();
  }

  private async check(): Promise<void> {
    const zk = this.zk;
    if (!zk || this.stopped || !this.mine) return;
    try {
      const children = (await zk.children(this.dir)).filter((c) => c.startsWith('lock-'));
      const i = children.indexOf(this.mine);
      if (i < 0) { this.lose('our lock znode is gone'); this.scheduleRejoin(); return; }
      if (i === 0) { this.acquire(); return; }
      const pred = `${this.dir}/${children[i - 1]}`;
      const stat = await zk.exists(pred, () => void this.check());
      if (!stat) await this.check();
      else this.opts.log.info({ waitingFor: pred }, 'bridge lock held by another process; standing by');
    } catch (e) {
      if (e instanceof ZkError) {
        this.opts.log.warn({ err: e.message, code: e.code }, 'bridge lock check failed; retrying');
        setTimeout(() => void this.check(), 500).unref();
      } else throw e;
    }
  }

  private acquire(): void {
    if (this.held) return;
    this.held = true;
    this.emit('acquired');
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.held = false;
    this.opts.log.warn({ why }, 'bridge lock lost');
    this.emit('lost');
  }

  private onExpired(zk: ZkClient): void {
    if (zk !== this.zk) return;
    this.lose('ZooKeeper session expired');
    this.scheduleRejoin();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.held = false;
    const zk = this.zk;
    this.zk = undefined;
    if (zk) await zk.close(); // deletes our ephemeral znode at once: the standby takes over now
  }
}
