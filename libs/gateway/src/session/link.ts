// One client connection's link to its group's master, across masters: "what happens when the
// master dies" on the gateway side (docs/architecture.md, gateway: failover, second layer).
//
//   idle --open--> up (a Broker.Session on the master) --stream lost / NOT_MASTER--> waiting
//   waiting --a master is known--> up (new session: same Open, then the ReplayLog's batch)
//   up --topology names another master--> up (moved at once; the old stream is cancelled)
//   waiting --failover.maxWaitMs without a master--> fatal ERROR "no master for group g: ..."
//
// With a StaticMaster (no coordinators) there is no failover: a lost stream is fatal, as it
// always was. Requests the client sends while waiting are kept in the ReplayLog (bounded:
// above failover.maxWaitingFrames the connection stops reading from the client) and go out
// with the replay.
import type { Open, SessionEvent, SessionRequest } from '@hawser/proto';
import type { Logger } from '@hawser/observability';
import type { GatewayMetrics } from '../metrics';
import { GatewayError } from '../errors';
import { ReplayLog } from './replay-log';
import type { Payloads, SessionChannel } from './channel';
import type { Channels } from './channels';
import type { MasterInfo, MasterSource } from './masters';

/** Store error codes that mean "not here, try the (next) master" rather than "you did wrong". */
export const FAILOVER_CODES: ReadonlySet<string> = new Set(['NOT_MASTER', 'UNAVAILABLE', 'NO_QUORUM']);

export interface StoreLinkContext {
  /** Channels to masters (gRPC, or in-process on this node). */
  channels: Channels;
  source: MasterSource;
  metrics: GatewayMetrics;
  /** store.openTimeout: without failover, how long the store may take to answer the open. */
  openTimeoutMs: number;
  maxWaitMs: number;
  resendTimeoutMs: number;
  maxWaitingFrames: number;
}

export interface StoreLinkHandlers {
  /** An event of the current session (or a receipt the link answers itself). `gen` counts sessions. */
  onEvent(ev: SessionEvent, gen: number): void;
  /** Without failover: the stream failed (the connection ends with `broker unavailable`). */
  onFailure(why: string): void;
  /** The connection must end with this error (no master in time, open timeout). */
  onFatal(err: GatewayError): void;
  /** The session has no master now and waits for one (failover only). */
  onWaiting?(): void;
  /**
   * An ACK/NACK sent to the previous master with a receipt that never came: it may or may not
   * have taken (ReplayLog `inDoubt`). Without this handler it is receipted as before.
   */
  onAckInDoubt?(requestId: number): void;
  /** Stop / resume reading the client (store stream full, or too many frames waiting for a master). */
  onBackpressure(): void;
  onDrain(): void;
}

type Payload<K extends keyof Payloads> = Payloads[K];

export class StoreLink {
  /** Sessions opened so far; events carry it so stale ones can be told apart. */
  gen = 0;
  private state: 'idle' | 'up' | 'waiting' | 'ended' = 'idle';
  private session: SessionChannel | undefined;
  private address: string | undefined;
  private failedAddress: string | undefined;
  private readonly replayLog = new ReplayLog();
  /** Transactions rolled back by a move (they held acks): their requests are answered here, their COMMIT refused. */
  private readonly rolledBack = new Set<string>();
  private openReq: Open | undefined;
  private waiting = 0;
  /** Too many requests wait for a master (failover.maxWaitingFrames). */
  private blocked = false;
  /** The current session's channel cannot take more (its stream is full) and has not drained yet. */
  private channelFull = false;
  /** What the handlers were last told: stop reading the client (blocked or channelFull) or not. */
  private reportedFull = false;
  private paused = false;
  private moving = false;
  private movedFrom: string | undefined;
  private retryDelay = 50;
  private openTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private maxWaitTimer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;

  constructor(private readonly ctx: StoreLinkContext, private readonly log: Logger, private readonly handlers: StoreLinkHandlers) {}

  get failover(): boolean { return this.ctx.source.failover; }
  /** Requests held for a master that is not there yet. */
  get waitingRequests(): number { return this.waiting; }
  get isWaiting(): boolean { return this.state === 'waiting'; }

  /** Opens the first session (on the master if one is known, else waits for one). */
  open(open: Open): void {
    if (this.state !== 'idle') return;
    this.openReq = open;
    if (this.failover) this.unwatch = this.ctx.source.onChange((m) => this.onMasterChange(m));
    const m = this.ctx.source.master;
    if (m) this.attach(m);
    else this.enterWaiting('no master known yet');
  }

  /** Sends one request (kept for a replay when failover is on). */
  request<K extends Exclude<SessionRequest['kind'], 'open'>>(kind: K, payload: Payload<K>, requestId = 0): void {
    if (this.state === 'ended') return;
    const tx = (payload as { transaction?: string }).transaction;
    if (tx && this.rolledBack.size && this.rolledBack.has(tx) && this.settleRolledBack(kind, tx, requestId)) return;
    if (this.failover) this.replayLog.record({ requestId, kind, [kind]: payload } as unknown as SessionRequest);
    if (this.session) {
      this.session.request(kind, payload, requestId);
    } else if (this.state === 'waiting') {
      this.waiting++;
      this.ctx.metrics.waitingFrames.inc();
      if (!this.blocked && this.waiting >= this.ctx.maxWaitingFrames) {
        this.blocked = true;
        this.updateFull();
      }
    }
  }

  /**
   * A request of a transaction a move rolled back (ReplayLog): the new master never heard of
   * it. Its SENDs and ACKs are void (answered here if they asked for a receipt), an ABORT is
   * what already happened, and a COMMIT is refused with TRANSACTION_ROLLED_BACK. A BEGIN of the
   * same name starts afresh. Returns false when the request should go to the master.
   */
  private settleRolledBack(kind: string, tx: string, requestId: number): boolean {
    if (kind === 'begin') { this.rolledBack.delete(tx); return false; }
    if (kind === 'commit') {
      this.rolledBack.delete(tx);
      this.refuseCommit(tx, requestId);
      return true;
    }
    if (kind === 'abort') this.rolledBack.delete(tx);
    if (requestId) this.handlers.onEvent({ kind: 'receipt', receipt: { requestId } }, this.gen);
    return true;
  }

  private refuseCommit(tx: string, requestId: number): void {
    this.log.info({ transaction: tx }, 'COMMIT of a transaction rolled back by a session move: refused');
    this.handlers.onEvent({
      kind: 'error',
      error: {
        requestId, fatal: true, code: 'TRANSACTION_ROLLED_BACK',
        message: `transaction '${tx}' was rolled back: the session moved to a new master while the transaction held acknowledgements; the messages it acked will be delivered again — run the transaction again`,
      },
    } as SessionEvent, this.gen);
  }

  /** A request that only makes sense on session `gen` (auto acks of its deliveries). */
  requestOn<K extends 'ack' | 'nack'>(gen: number, kind: K, payload: Payload<K>): void {
    if (gen === this.gen && this.session) this.session.request(kind, payload, 0);
  }

  pause(): void { this.paused = true; this.session?.pause(); }
  resume(): void { this.paused = false; this.session?.resume(); }

  /** Half-closes the stream after the queued requests (client gone or DISCONNECT done). */
  end(): void {
    if (this.state === 'ended') return;
    this.finish();
    this.session?.end();
  }

  /** Drops the stream at once. */
  cancel(): void {
    if (this.state === 'ended') return;
    this.finish();
    this.session?.cancel();
  }

  private finish(): void {
    this.state = 'ended';
    this.unwatch?.();
    clearTimeout(this.openTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.maxWaitTimer);
    this.releaseWaiting();
  }

  // ---- sessions --------------------------------------------------------------------------------

  /** Opens a session on `m` and replays the log onto it. */
  private attach(m: MasterInfo): void {
    clearTimeout(this.retryTimer);
    const gen = ++this.gen;
    this.address = m.address;
    this.state = 'up';
    // A full stream's drain belongs to the channel being left (or never comes: it failed):
    // the new session starts unblocked (docs/reliability.md D8).
    this.channelFull = false;
    const session = this.ctx.channels.open(m.address, {
      onEvent: (ev) => this.onSessionEvent(gen, ev),
      onFailure: (err) => this.onSessionFailure(gen, err.message),
      onBackpressure: () => { if (gen === this.gen) { this.channelFull = true; this.updateFull(); } },
      onDrain: () => { if (gen === this.gen) { this.channelFull = false; this.updateFull(); } },
    });
    this.session = session;
    session.start();
    if (this.paused) session.pause();
    session.request('open', this.openReq!);
    if (this.failover) {
      const { requests, receipts, inDoubt, rolledBack } = this.replayLog.replay();
      for (const r of requests) session.request(r.kind as 'send', (r as unknown as Record<string, never>)[r.kind], r.requestId);
      if (this.moving || requests.length) {
        this.log.info({ master: m.id, address: m.address, epoch: m.epoch, replayed: requests.length, answered: receipts.length, acksInDoubt: inDoubt.length }, 'session opened on the master; replaying');
      }
      // Unsubscribes of the old session and void parts of rolled-back transactions: nothing to replay, but their clients wait for a receipt.
      for (const requestId of receipts) this.handlers.onEvent({ kind: 'receipt', receipt: { requestId } }, gen);
      // ACK/NACKs the old master may or may not have applied: the client session decides (docs/reliability.md D2).
      for (const requestId of inDoubt) {
        if (this.handlers.onAckInDoubt) this.handlers.onAckInDoubt(requestId);
        else this.handlers.onEvent({ kind: 'receipt', receipt: { requestId } }, gen);
      }
      for (const rb of rolledBack) {
        this.ctx.metrics.transactionsRolledBack.inc();
        this.log.info({ transaction: rb.transaction, commitPending: rb.commit !== 0 }, 'transaction with acks rolled back by the session move');
        if (rb.commit) this.refuseCommit(rb.transaction, rb.commit);
        else this.rolledBack.add(rb.transaction);
      }
    }
    this.releaseWaiting();
    const ms = this.failover ? this.ctx.resendTimeoutMs : this.ctx.openTimeoutMs;
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      if (gen !== this.gen || this.state !== 'up') return;
      if (!this.failover) {
        this.ctx.metrics.storeFailures.inc();
        this.fatal(new GatewayError('BROKER_UNAVAILABLE', `broker unavailable: the store did not answer within ${ms} ms`));
      } else {
        this.onSessionFailure(gen, `the store at ${m.address} did not answer the session open within ${ms} ms`);
      }
    }, ms);
    this.openTimer.unref();
  }

  private onSessionEvent(gen: number, ev: SessionEvent): void {
    if (gen !== this.gen || this.state === 'ended') return;
    switch (ev.kind) {
      case 'opened':
        clearTimeout(this.openTimer);
        clearTimeout(this.maxWaitTimer);
        this.maxWaitTimer = undefined;
        this.retryDelay = 50;
        if (this.moving) {
          this.moving = false;
          this.ctx.metrics.sessionsMoved.inc();
          this.log.info({ from: this.movedFrom, to: this.address, node: ev.opened.node, epoch: ev.opened.epoch }, 'session moved to the new master');
        }
        break;
      case 'receipt':
        this.replayLog.receipt(ev.receipt.requestId);
        break;
      case 'error':
        if (this.failover && FAILOVER_CODES.has(ev.error.code)) {
          this.onSessionFailure(gen, `${ev.error.code}: ${ev.error.message}`);
          return;
        }
        break;
    }
    this.handlers.onEvent(ev, gen);
  }

  private onSessionFailure(gen: number, why: string): void {
    if (gen !== this.gen || this.state === 'ended') return;
    const address = this.address;
    this.session?.cancel();
    this.session = undefined;
    // Its drain will not come: the client is read again, its requests wait in the ReplayLog
    // (bounded by failover.maxWaitingFrames).
    this.channelFull = false;
    this.updateFull();
    if (!this.failover) {
      this.state = 'ended';
      this.handlers.onFailure(why);
      return;
    }
    this.ctx.metrics.storeFailures.inc();
    if (!this.moving) this.ctx.metrics.failovers.inc();
    this.log.warn({ address, err: why }, 'store stream lost; the session waits for a master');
    this.failedAddress = address;
    this.enterWaiting(why);
  }

  private enterWaiting(why: string): void {
    clearTimeout(this.openTimer);
    // Moving = a session existed before (the first open waiting for a master is not a move).
    if (!this.moving && this.gen > 0) {
      this.movedFrom = this.address;
      this.moving = true;
    }
    this.state = 'waiting';
    this.address = undefined;
    if (!this.maxWaitTimer) {
      const ms = this.ctx.maxWaitMs;
      this.maxWaitTimer = setTimeout(() => {
        if (this.state === 'up' && !this.moving) return;
        this.fatal(new GatewayError('NO_MASTER', `no master for group ${this.ctx.source.group}: ${this.ctx.source.describe()}`));
      }, ms);
      this.maxWaitTimer.unref();
      this.log.debug({ why, maxWaitMs: ms }, 'waiting for a master');
    }
    this.handlers.onWaiting?.();
    if (this.state !== 'waiting') return;
    this.tryAttach();
  }

  private tryAttach(): void {
    if (this.state !== 'waiting') return;
    clearTimeout(this.retryTimer);
    const m = this.ctx.source.master;
    if (!m) return; // onMasterChange calls again
    if (m.address === this.failedAddress) {
      // The topology still names the store that just failed: it may be a blip, or the
      // coordinators have not noticed yet. Retry it with a backoff until they name another.
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retryDelay * 2, 1_000);
      this.retryTimer = setTimeout(() => {
        this.failedAddress = undefined;
        this.tryAttach();
      }, delay);
      this.retryTimer.unref();
      return;
    }
    this.attach(m);
  }

  private onMasterChange(m: MasterInfo | undefined): void {
    if (this.state === 'waiting') {
      if (m) this.failedAddress = undefined;
      this.tryAttach();
      return;
    }
    if (this.state === 'up' && m && m.address !== this.address) {
      // The old master is fenced or dying; do not wait for its stream to fail.
      this.log.info({ from: this.address, to: m.address }, 'group master changed: moving the session');
      this.ctx.metrics.failovers.inc();
      this.session?.cancel();
      this.session = undefined;
      this.movedFrom = this.address;
      this.moving = true;
      if (!this.maxWaitTimer) {
        this.maxWaitTimer = setTimeout(() => {
          if (this.moving) this.fatal(new GatewayError('NO_MASTER', `no master for group ${this.ctx.source.group}: ${this.ctx.source.describe()}`));
        }, this.ctx.maxWaitMs);
        this.maxWaitTimer.unref();
      }
      this.attach(m);
    }
  }

  private releaseWaiting(): void {
    if (this.waiting) this.ctx.metrics.waitingFrames.dec(this.waiting);
    this.waiting = 0;
    this.blocked = false;
    this.updateFull();
  }

  /**
   * Tells the client side to stop or resume reading its client, once per change. Both reasons
   * are the link's: a channel's back-pressure ends with its session (moved, failed), so a client
   * paused for a stream it no longer uses is read again — a client never read again would not
   * even be seen closing (a paused socket does not see the peer's close), and its session, with
   * its prefetch in flight, would live on the master for good (docs/reliability.md D8).
   */
  private updateFull(): void {
    if (this.state === 'ended') return;
    const full = this.blocked || this.channelFull;
    if (full === this.reportedFull) return;
    this.reportedFull = full;
    if (full) this.handlers.onBackpressure();
    else this.handlers.onDrain();
  }

  private fatal(err: GatewayError): void {
    if (this.state === 'ended') return;
    this.cancel();
    this.handlers.onFatal(err);
  }
}
