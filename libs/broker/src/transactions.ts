// Local transactions (STOMP BEGIN / COMMIT / ABORT, a JMS transacted session): a session's
// SENDs, ACKs and NACKs named with a transaction wait in it; COMMIT applies them all in one
// step, so they go into one journal entry (atomic); ABORT, or the session's end, rolls back:
// buffered SENDs are dropped and the messages consumed in it are redelivered (JMS rollback).
// The core asks begin / send / consume / commit / abort for the requests and abortAll when a
// session closes.
import type { StorageQueue } from './queue';
import { volatileSize } from './queue';
import type { DeliveryRec, Session, Subscription, TxItem } from './model';
import type { Usage } from './usage';
import { BrokerError, ErrorCode, type Message } from './types';

/** The core as its transactions see it. */
export interface TxHost {
  readonly usage: Usage;
  /** Queues to dispatch at the step's end (a tx-acked delivery frees prefetch). */
  readonly dirty: Set<StorageQueue<Subscription>>;
  publish(s: Session, m: Message): void;
  acked(rec: DeliveryRec): void;
  /** A delivery failed (NACK, rollback): redeliver, or dead-letter. */
  returned(rec: DeliveryRec, why: string): void;
}

export class Transactions {
  constructor(private readonly core: TxHost) {}

  begin(s: Session, id: string): void {
    if (!id) throw new BrokerError(ErrorCode.BadRequest, 'BEGIN without a transaction id: set the transaction header');
    if (s.txs.has(id)) throw new BrokerError(ErrorCode.BadRequest, `BEGIN of transaction '${id}' which is already open on this session: COMMIT or ABORT it first`);
    s.txs.set(id, []);
  }

  /** A SEND in a transaction waits for its COMMIT (its bytes count as memory meanwhile). */
  send(s: Session, id: string, m: Message): void {
    this.items(s, id).push({ kind: 'send', message: m });
    this.core.usage.txBytes += volatileSize(m);
  }

  /** ACKs or NACKs of deliveries in a transaction: held (no longer counted against prefetch) until COMMIT. */
  consume(s: Session, id: string, kind: 'ack' | 'nack', recs: DeliveryRec[]): void {
    const items = this.items(s, id);
    for (const d of recs) {
      d.tx = id;
      d.sub.unacked--;
      items.push({ kind, rec: d });
      this.core.dirty.add(d.sub.queue);
    }
  }

  commit(s: Session, id: string): void {
    const items = this.items(s, id);
    s.txs.delete(id);
    // Every op of the transaction goes into the entry of this step: one entry, atomic.
    for (const it of items) {
      if (it.kind === 'send') { this.core.usage.txBytes -= volatileSize(it.message); this.core.publish(s, it.message); }
      else if (s.deliveries.get(it.rec.tag) === it.rec) {
        if (it.kind === 'ack') this.core.acked(it.rec);
        else this.core.returned(it.rec, 'NACK');
      }
    }
  }

  abort(s: Session, id: string): void {
    const items = this.items(s, id);
    s.txs.delete(id);
    this.rollback(s, items);
  }

  /** The session ends: its uncommitted transactions abort. */
  abortAll(s: Session): void {
    for (const items of s.txs.values()) this.rollback(s, items);
    s.txs.clear();
  }

  private items(s: Session, id: string): TxItem[] {
    const items = s.txs.get(id);
    if (!items) throw new BrokerError(ErrorCode.UnknownTransaction, `unknown transaction '${id}': BEGIN it first (it may have been committed or aborted already)`);
    return items;
  }

  /** JMS rollback: messages consumed in the transaction are redelivered. */
  private rollback(s: Session, items: TxItem[]): void {
    for (const it of items) {
      if (it.kind === 'send') { this.core.usage.txBytes -= volatileSize(it.message); continue; }
      if (s.deliveries.get(it.rec.tag) !== it.rec) continue;
      it.rec.tx = null;
      it.rec.sub.unacked++;
      this.core.returned(it.rec, 'transaction rolled back');
    }
  }
}
