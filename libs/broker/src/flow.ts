// Producer flow control (ActiveMQ's producerFlowControl): a SEND the broker has no room for
// (usage.ts measures the room against broker.memoryLimit / storeLimit) waits, and so does every
// request of its session behind it, until there is room; or it is refused with NO_SPACE
// (sendFailIfNoSpace, sendFailIfNoSpaceAfterTimeout). The core asks holds() for each request
// and calls releaseHeld() at each step's end.
import type { Session } from './model';
import type { Usage } from './usage';
import { BrokerError, ErrorCode, type SessionRequest } from './types';

/** The core as its flow control sees it. */
export interface FlowHost {
  readonly usage: Usage;
  /** CoreOptions.forcePersistent: every SEND is persistent. */
  forcePersistent(): boolean;
  now(): number;
  /** Counts a held or a refused SEND in this step's Ready. */
  count(what: 'heldSends' | 'refusedSends'): void;
  /** Whether the session is still the core's (not ended, not replaced). */
  isOpen(s: Session): boolean;
  /** Answers a request with an error (after its entry is durable). */
  fail(s: Session, requestId: number, err: BrokerError): void;
  /** Runs one request and answers it (a receipt or an error). */
  run(s: Session, r: SessionRequest): void;
}

export class FlowControl {
  /** Sessions with held requests, in the order they were blocked (released in that order). */
  private readonly blocked = new Set<Session>();

  constructor(private readonly core: FlowHost) {}

  /** Producers blocked now (metrics). */
  get blockedProducers(): number { return this.blocked.size; }

  /** Requests held now (metrics). */
  heldRequests(): number {
    let held = 0;
    for (const s of this.blocked) held += s.held?.requests.length ?? 0;
    return held;
  }

  /** The session ended: it waits for room no more. */
  unblock(s: Session): void {
    this.blocked.delete(s);
  }

  /**
   * Whether `r` waits instead of running now: a SEND the broker has no room for
   * (broker.memoryLimit, storeLimit), and every request of the session behind it (its order is
   * kept) except a plain ACK/NACK: a producer that also consumes keeps acking, which is what
   * makes room. No receipt leaves for a held request, so a client that waits for its receipts
   * stops; the gateway stops reading one whose receipts are owed (limits.maxPendingReceipts).
   * With sendFailIfNoSpace the SEND is refused instead (throws NO_SPACE).
   */
  holds(s: Session, r: SessionRequest): boolean {
    if (s.held) {
      if ((r.kind === 'ack' && !r.ack.transaction) || (r.kind === 'nack' && !r.nack.transaction)) return false;
      this.hold(s, r);
      return true;
    }
    if (r.kind !== 'send' || !r.send.message) return false;
    const full = this.core.usage.noSpace(r.send.message.persistent || this.core.forcePersistent());
    if (!full) return false;
    if (this.core.usage.limits.sendFailIfNoSpace) {
      this.core.count('refusedSends');
      throw new BrokerError(ErrorCode.NoSpace, `SEND refused: ${this.core.usage.describe(full)}; retry once consumers have drained (broker.sendFailIfNoSpace)`, { fatal: false });
    }
    s.held = { requests: [], since: this.core.now() };
    this.blocked.add(s);
    this.hold(s, r);
    return true;
  }

  private hold(s: Session, r: SessionRequest): void {
    const h = s.held!;
    const max = this.core.usage.limits.maxHeldRequests;
    if (h.requests.length >= max) {
      throw new BrokerError(ErrorCode.NoSpace, `too many requests held while the broker has no room for this session's SEND (${max}, broker.maxHeldRequests): send with receipts and wait for them, or raise broker.memoryLimit / broker.storeLimit`);
    }
    h.requests.push(r);
    if (r.kind === 'send') this.core.count('heldSends');
  }

  /**
   * Runs held requests while there is room, the session blocked first going first (a later one
   * waits behind it: no producer overtakes another). A SEND held longer than
   * sendFailIfNoSpaceAfterTimeout is refused with NO_SPACE.
   */
  releaseHeld(): void {
    const timeout = this.core.usage.limits.sendFailIfNoSpaceAfterTimeout;
    for (const s of this.blocked) {
      const h = s.held;
      if (!h || s.closed || !this.core.isOpen(s)) { this.blocked.delete(s); continue; }
      while (h.requests.length) {
        const r = h.requests[0]!;
        const full = r.kind === 'send' && r.send.message ? this.core.usage.noSpace(r.send.message.persistent || this.core.forcePersistent()) : null;
        if (full) {
          if (timeout <= 0 || this.core.now() - h.since < timeout) return;
          h.requests.shift();
          this.core.count('refusedSends');
          this.core.fail(s, r.requestId, new BrokerError(ErrorCode.NoSpace, `SEND refused after ${timeout} ms without room (broker.sendFailIfNoSpaceAfterTimeout): ${this.core.usage.describe(full)}; retry once consumers have drained`, { fatal: false }));
        } else {
          h.requests.shift();
          this.core.run(s, r);
        }
        if (s.closed) break;
        h.since = this.core.now();
      }
      s.held = null;
      this.blocked.delete(s);
    }
  }
}
