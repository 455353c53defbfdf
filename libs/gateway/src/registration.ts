// The gateway's ephemeral znode, <zkPath>/gateways/<gateway.id> with GatewayInfo JSON
// (proto/hawser/coordination.proto header), so the coordinators' topology, the console and
// the CLI can list gateways. It lives as long as the gateway's ZooKeeper session: on expiry
// the gateway opens a new session and registers again (with a backoff while ZooKeeper is
// unreachable). Registration never blocks serving clients.
import { connect as zkConnect, ZkNodeExistsError, type ZkClient } from '@hawser/zk';
import type { GatewayInfo } from '@hawser/proto';
import type { Logger } from '@hawser/observability';

export interface RegistrationOptions {
  address: string;
  path: string;
  sessionTimeoutMs: number;
  info: GatewayInfo;
  log: Logger;
}

export class GatewayRegistration {
  private client: ZkClient | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff = 200;
  /** Resolves once the znode was written the first time (tests). */
  readonly registered: Promise<void>;
  private markRegistered!: () => void;

  constructor(private readonly opts: RegistrationOptions) {
    this.registered = new Promise((resolve) => { this.markRegistered = resolve; });
  }

  get znode(): string { return `${this.opts.path.replace(/\/+$/, '')}/gateways/${this.opts.info.id}`; }

  start(): this {
    void this.register();
    return this;
  }

  private async register(): Promise<void> {
    if (this.stopped) return;
    const { log } = this.opts;
    try {
      const client = await zkConnect(this.opts.address, { sessionTimeoutMs: this.opts.sessionTimeoutMs });
      if (this.stopped) { await client.close(); return; }
      this.client = client;
      client.on('expired', () => {
        log.warn({ znode: this.znode }, 'ZooKeeper session expired: registering again');
        this.client = undefined;
        this.retry();
      });
      await client.mkdirp(this.znode.slice(0, this.znode.lastIndexOf('/')));
      const data = JSON.stringify(this.opts.info);
      try {
        await client.create(this.znode, data, 'ephemeral');
      } catch (e) {
        if (!(e instanceof ZkNodeExistsError)) throw e;
        // Left by our previous session (a restart within the session timeout): replace it.
        await client.delete(this.znode).catch(() => undefined);
        await client.create(this.znode, data, 'ephemeral');
      }
      this.backoff = 200;
      log.info({ znode: this.znode, zk: this.opts.address }, 'gateway registered in ZooKeeper');
      this.markRegistered();
    } catch (e) {
      log.warn({ err: (e as Error).message, zk: this.opts.address, retryInMs: this.backoff }, 'cannot register the gateway in ZooKeeper; retrying');
      const c = this.client;
      this.client = undefined;
      await c?.close().catch(() => undefined);
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5_000);
    this.timer = setTimeout(() => void this.register(), delay);
    this.timer.unref();
  }

  /** Closes the session: ZooKeeper deletes the znode at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }
}
