// What a client session must tell a NEW master so that the client sees no difference after
// a failover (docs/architecture.md "gateway: when a master changes, the gateway moves its
// sessions"). Pure: requests in, receipts in, the replay batch out — no I/O, no timers.
//
// Kept per session:
//   - every live subscription (re-subscribed with the same id, ack mode, selector, durable name);
//   - every non-transacted SEND without a receipt yet (resent with the SAME message id: the
//     store drops duplicates, broker.proto Message.id);
//   - every open transaction: BEGIN, its SENDs (and COMMIT/ABORT when they had no receipt) —
//     the old master's transaction died with its session, so the whole of it is replayed;
//   - a pending DISCONNECT (close).
// ACK/NACKs name delivery tags of the OLD session, which mean nothing to the new master: they
// are never replayed (the messages come again, redelivered, and the client acks those). One
// that waited for a receipt is in doubt (`inDoubt` of replay(): the old master may or may not
// have applied it): the client session holds its receipt until the message comes again and
// acks that delivery, or answers it with an ERROR — never a RECEIPT for an ack that did not
// take (docs/reliability.md D2).
//
// A transaction that held ACK/NACKs cannot be replayed whole, and committing its SENDs without
// its acks would apply half of it (the consumed messages come again while what the client
// produced from them is stored: duplicates downstream). So it is rolled back instead, as
// ActiveMQ's failover transport does (TransactionRolledBackException): nothing of it is
// replayed, and replay() names it in `rolledBack` so the link can refuse its COMMIT.
//
// Receipts: sends, commits and aborts must carry a non-zero requestId (the connection gives
// them an internal one when the client did not ask) — that is how the log learns they are done.
import type { SessionRequest } from '@hawser/proto';
import { SeqMap } from '@hawser/broker';

interface Entry {
  seq: number;
  req: SessionRequest;
  receipted: boolean;
  /** Transaction the request belongs to ('' = none). */
  tx: string;
}

export interface Replay {
  /** Requests for the new session, in their original order (the open is not among them). */
  requests: SessionRequest[];
  /** requestIds the gateway should answer itself (unsubscribes of gone subscriptions, void parts of rolled-back transactions). */
  receipts: number[];
  /** requestIds of old-session ACK/NACKs (outside transactions) that had no receipt: in doubt (see above). */
  inDoubt: number[];
  /**
   * Open transactions that held ACK/NACKs: rolled back, none of their requests replayed.
   * `commit` is the requestId of a COMMIT sent without a receipt yet (0: none) — the client
   * must hear that it failed.
   */
  rolledBack: Array<{ transaction: string; commit: number }>;
}

export class ReplayLog {
  private seq = 0;
  private readonly entries = new SeqMap<Entry>();
  private readonly byRequestId = new SeqMap<Entry>();
  private readonly subscriptions = new Map<string, Entry>();
  private readonly transactions = new Map<string, Entry[]>();

  /** Requests that a move would replay or answer (for tests and metrics). */
  get size(): number { return this.entries.size; }

  /** Records a request as it is sent (or queued while there is no master). */
  record(req: SessionRequest): void {
    const e: Entry = { seq: ++this.seq, req, receipted: false, tx: txOf(req) };
    switch (req.kind) {
      case 'open':
        return; // the link keeps the open itself
      case 'subscribe': {
        const old = this.subscriptions.get(req.subscribe.subscriptionId);
        if (old) this.drop(old);
        this.subscriptions.set(req.subscribe.subscriptionId, e);
        break;
      }
      case 'unsubscribe': {
        const sub = this.subscriptions.get(req.unsubscribe.subscriptionId);
        if (sub) {
          this.subscriptions.delete(req.unsubscribe.subscriptionId);
          this.drop(sub);
        }
        // Only its receipt matters: a new master never had the subscription.
        if (req.requestId === 0) return;
        break;
      }
      case 'begin':
        this.transactions.set(e.tx, [e]);
        break;
      case 'send':
      case 'ack':
      case 'nack':
      case 'commit':
      case 'abort':
        if (e.tx) {
          const list = this.transactions.get(e.tx);
          // A request for a transaction we never saw begin: the store will refuse it; nothing to replay.
          if (!list) return;
          list.push(e);
        } else if (req.requestId === 0) {
          return; // fire-and-forget ack/nack: nothing to learn, nothing to replay
        }
        break;
      case 'close':
        break;
    }
    this.entries.set(e.seq, e);
    if (req.requestId) this.byRequestId.set(req.requestId, e);
  }

  /** The current master answered `requestId`. */
  receipt(requestId: number): void {
    const e = this.byRequestId.get(requestId);
    if (!e) return;
    this.byRequestId.delete(requestId);
    e.receipted = true;
    const k = e.req.kind;
    if ((k === 'commit' || k === 'abort') && e.tx) {
      // The transaction is settled on the master: nothing of it is replayed any more.
      for (const t of this.transactions.get(e.tx) ?? []) this.drop(t);
      this.transactions.delete(e.tx);
      return;
    }
    // Subscriptions and transaction parts stay (the new master must hear them again).
    if (k === 'subscribe' || e.tx) return;
    this.drop(e);
  }

  /** The batch that makes a new session equal to this one. */
  replay(): Replay {
    const requests: SessionRequest[] = [];
    const receipts: number[] = [];
    const inDoubt: number[] = [];
    const rolledBack: Replay['rolledBack'] = [];
    for (const [transaction, list] of this.transactions) {
      if (!list.some((e) => e.req.kind === 'ack' || e.req.kind === 'nack')) continue;
      let commit = 0;
      for (const e of list) {
        const k = e.req.kind;
        if (k === 'commit' && !e.receipted) commit = e.req.requestId;
        // Anything else of it that waits for a receipt gets one: it is void now, not lost.
        else if (k !== 'begin' && !e.receipted && e.req.requestId) receipts.push(e.req.requestId);
        this.drop(e);
      }
      this.transactions.delete(transaction);
      rolledBack.push({ transaction, commit });
    }
    for (const e of [...this.entries.values()].sort((a, b) => a.seq - b.seq)) {
      const req = e.req;
      if (req.kind === 'ack' || req.kind === 'nack' || req.kind === 'unsubscribe') {
        // Old-session delivery tags / subscriptions the new master never had.
        if (!e.receipted && req.requestId) (req.kind !== 'unsubscribe' && !e.tx ? inDoubt : receipts).push(req.requestId);
        this.drop(e);
        if (e.tx) {
          const list = this.transactions.get(e.tx);
          if (list) this.transactions.set(e.tx, list.filter((x) => x !== e));
        }
        continue;
      }
      // Already answered by the old master: resend without asking again.
      requests.push(e.receipted ? { ...req, requestId: 0 } : req);
    }
    return { requests, receipts, inDoubt, rolledBack };
  }

  private drop(e: Entry): void {
    this.entries.delete(e.seq);
    if (e.req.requestId && this.byRequestId.get(e.req.requestId) === e) this.byRequestId.delete(e.req.requestId);
  }
}

function txOf(req: SessionRequest): string {
  switch (req.kind) {
    case 'send': return req.send.transaction;
    case 'ack': return req.ack.transaction;
    case 'nack': return req.nack.transaction;
    case 'begin': return req.begin.transaction;
    case 'commit': return req.commit.transaction;
    case 'abort': return req.abort.transaction;
    default: return '';
  }
}
