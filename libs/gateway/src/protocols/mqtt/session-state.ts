// What an MQTT session keeps in the store, so that a client reconnecting — to this gateway or
// another — and a new master after a failover agree on it (docs/architecture.md "MQTT: session
// state and QoS 2"). The store knows destinations, messages and acks only, so the state is
// MESSAGES: records on the client's own topic `/topic/$mqtt.session.<client id in hex>`, kept
// by a durable subscription of the client (name `$mqtt.session`, client id = MQTT client id).
// A record exists while its message is unacknowledged:
//   add    = a persistent SEND to the topic (in the same transaction as what it describes);
//   remove = ACK of its delivery;
//   read   = the durable's deliveries: every live record comes back on each connect (and again,
//            marked redelivered, after a failover), because nothing acks it until it is removed.
// Records: {t:'session'} (the session exists: CONNACK session present), {t:'sub',f,q} (a
// subscription; its backlog is the durable subscription named by the filter), {t:'in',p}
// (inbound QoS 2: stored, PUBREL not yet received), {t:'out',p,s,m} (outbound QoS 2: message m
// of subscription s went out with packet id p, PUBREC not yet — so a reconnect resends it with
// the same id [MQTT-4.4.0-1]), {t:'rel',p} (outbound QoS 2: PUBREC received, PUBCOMP not yet),
// {t:'out1',l:[[p,s,m],...]} (outbound QoS 1 without PUBACK when the last connection closed:
// one record per close, not one per delivery — the next connection resends them with the same
// ids [MQTT-4.4.0-1]; a gateway that dies leaves none, and those go out with new ids), {t:'mark'}
// (the end of a load, below).
//
// Loading: the durable is subscribed and a fresh {t:'mark'} record sent after it; the store
// keeps a durable's backlog in order, so when that mark comes back every earlier record has
// come. The records are replicated and journaled like any message, so they survive a master
// failover; the dedup of persistent SENDs (same id, same login) keeps a replayed record single.
//
// The `$` first level keeps the records out of `#` and `+` subscriptions (wildcards do not
// match `$` topics at the first level).
//
// Takeover across gateways [MQTT-3.1.4-2]: every connection also subscribes (not durably, no
// local copies) to the same topic for non-persistent messages carrying the header
// MqttTakeover, and announces itself with one when it connects; a connection with the same
// client id on ANY gateway that hears another's announcement closes. The records' durable
// selects `MqttTakeover IS NULL`, so announcements never become records. Until the old
// connection's session has ended its durable is still active: the new one retries reading.
import type { AckMode, Message } from '@hawser/proto';
import type { ClientDelivery } from '../../session/client-session';
import type { MqttConnection } from './connection';
import { filterDestination } from './topics';

export const SESSION_SUBSCRIPTION = '$mqtt.session';
/** The takeover announcements' subscription, and their header (its value: the announcing connection's id). */
export const TAKEOVER_SUBSCRIPTION = '$mqtt.takeover';
export const TAKEOVER_HEADER = 'MqttTakeover';
/** How long a new connection retries reading a session whose durable is still active elsewhere. */
const TAKEOVER_WAIT_MS = 10_000;

export type SessionRecord =
  | { t: 'session' }
  | { t: 'sub'; f: string; q: 0 | 1 | 2 }
  | { t: 'in'; p: number; h?: string }
  | { t: 'rel'; p: number }
  | { t: 'out'; p: number; s: string; m: string }
  | { t: 'out1'; l: Array<[number, string, string]> }
  | { t: 'mark' };

interface Held { rec: SessionRecord; tag: number | undefined; removing?: Array<() => void> }

/** The topic of a client id's records: hex keeps any client id a valid, wildcard-free name. */
export function sessionTopic(clientId: string): string {
  return `/topic/$mqtt.session.${Buffer.from(clientId, 'utf8').toString('hex')}`;
}

export class SessionState {
  readonly topic: string;
  private readonly records = new Map<string, Held>();
  /** Records removed on this connection: acked again if a failover brings them back. */
  private readonly removed = new Set<string>();
  private loading: { mark: string; done: (records: Array<[string, SessionRecord]>) => void } | undefined;
  /** Callbacks for records of ours whose delivery back says they are in the store. */
  private readonly arrivals = new Map<string, () => void>();

  constructor(private readonly c: MqttConnection) {
    this.topic = sessionTopic(c.clientId);
  }

  /** Calls `fn` when record `id` (one this connection added) comes back from the store, i.e. it was stored. */
  whenArrives(id: string, fn: () => void): void {
    const h = this.records.get(id);
    if (h?.tag !== undefined) { fn(); return; }
    this.arrivals.set(id, fn);
  }

  owns(subscriptionId: string): boolean { return subscriptionId === SESSION_SUBSCRIPTION || subscriptionId === TAKEOVER_SUBSCRIPTION; }

  /** Listens for other connections of this client id, then tells them to go (see the header). */
  announce(): void {
    const c = this.c;
    c.session!.subscribe({
      subscriptionId: TAKEOVER_SUBSCRIPTION, destination: this.topic, ackMode: 'ACK_MODE_AUTO' as AckMode,
      prefetch: 16, selector: `${TAKEOVER_HEADER} IS NOT NULL`, durableName: '', noLocal: true, priority: 0,
    }, c.expect(() => undefined, (e) => c.log.info({ code: e.code, error: e.message }, 'MQTT takeover announcements not heard: a second connection of this client id on another gateway will not close this one')));
    c.session!.send({
      id: c.nextMessageId(), destination: this.topic, headers: { [TAKEOVER_HEADER]: c.id }, body: Buffer.alloc(0),
      persistent: false, priority: 4, expires: 0, timestamp: 0,
    }, '');
  }

  /**
   * Subscribes the records' durable and calls `done` with every live record once all have come.
   * `claimed` runs once, at the store's first answer that the client id is this user's (the
   * subscribe accepted, or refused only because another connection still holds it): what a
   * CONNECT may do to other connections of the id (takeover) waits for it. A client id owned by
   * another user is `refused` with CLIENT_ID_TAKEN (core.ts foreignSessionTopic).
   */
  load(done: (records: Array<[string, SessionRecord]>) => void, refused: (code: string, message: string) => void, claimed?: () => void, since = Date.now(), delay = 50): void {
    const c = this.c;
    c.session!.subscribe({
      subscriptionId: SESSION_SUBSCRIPTION,
      destination: this.topic,
      ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL' as AckMode,
      // Every live record is held unacknowledged: the prefetch bounds how many a session keeps.
      prefetch: c.ctx.config.limits.maxPrefetch,
      selector: `${TAKEOVER_HEADER} IS NULL`,
      durableName: SESSION_SUBSCRIPTION,
      noLocal: false,
      priority: 0,
    }, c.expect(() => claimed?.(), (e) => {
      this.loading = undefined;
      // Still active on the connection being taken over (another gateway): it goes on hearing
      // our announcement; read again shortly.
      if (e.code === 'DUPLICATE_SUBSCRIPTION' && !e.fatal && Date.now() - since < TAKEOVER_WAIT_MS) {
        claimed?.();
        c.log.debug({ retryInMs: delay }, 'MQTT session still held by the connection being taken over: reading it again');
        const t = setTimeout(() => { if (c.isOpen) this.load(done, refused, undefined, since, Math.min(delay * 2, 1000)); }, delay);
        t.unref();
        return;
      }
      refused(e.code, e.message);
    }));
    const mark = this.add({ t: 'mark' });
    this.loading = { mark, done };
  }

  /** Adds a record (in `transaction` when given); returns its id. */
  add(rec: SessionRecord, transaction = '', token?: string): string {
    const c = this.c;
    const id = `${c.nextMessageId()}:s`;
    const message: Message = {
      id, destination: this.topic, headers: {}, body: Buffer.from(JSON.stringify(rec)),
      persistent: true, priority: 4, expires: 0, timestamp: 0,
    };
    c.session!.send(message, transaction, token);
    this.records.set(id, { rec, tag: undefined });
    return id;
  }

  /** Removes a record; `done` once the store has it removed (its ack receipted). */
  remove(id: string, done?: () => void, transaction = ''): void {
    const h = this.records.get(id);
    this.removed.add(id);
    if (!h) { done?.(); return; }
    (h.removing ??= []).push(done ?? (() => undefined));
    // In the caller's transaction when the record is here to ack; otherwise on its own when it comes.
    if (h.tag !== undefined) this.ack(id, h, transaction);
  }

  private ack(id: string, h: Held, transaction = ''): void {
    const c = this.c;
    const tag = h.tag!;
    const waiting = h.removing ?? [];
    this.records.delete(id);
    if (!c.session!.holds(tag)) { for (const f of waiting) f(); return; }
    if (transaction) {
      c.session!.settle('ack', tag, transaction);
      for (const f of waiting) f();
      return;
    }
    c.session!.settle('ack', tag, '', c.expect(() => { for (const f of waiting) f(); }));
  }

  onDelivery(d: ClientDelivery): void {
    if (d.subscriptionId === TAKEOVER_SUBSCRIPTION) {
      d.written?.();
      const by = d.message.headers?.[TAKEOVER_HEADER];
      if (by && by !== this.c.id) {
        this.c.ctx.metrics.mqttTakeovers.inc();
        this.c.log.info({ clientId: this.c.clientId, by }, 'MQTT client id taken over by a connection on another gateway: closing this one [MQTT-3.1.4-2]');
        this.c.close('client id taken over');
      }
      return;
    }
    const id = d.message.id;
    // An announcement is never a record (the durable's selector keeps them out; defensive).
    if (d.message.headers?.[TAKEOVER_HEADER] !== undefined) { this.settle(d.tag); return; }
    let rec: SessionRecord;
    try {
      rec = JSON.parse(Buffer.from(d.message.body).toString('utf8')) as SessionRecord;
    } catch {
      this.c.log.warn({ id }, 'MQTT session record does not parse: dropped');
      this.settle(d.tag);
      return;
    }
    const h = this.records.get(id);
    if (h?.removing) {
      // Removed before its delivery came (a PUBREL that overtook the record written at CONNECT
      // or in a QoS 2 transaction): this delivery is what the removal waited for — ack it now,
      // and the removal's callbacks (the PUBCOMP) run on its receipt. Settled silently as "one
      // we removed" below, the PUBCOMP never went out (docs/reliability.md D7).
      h.tag = d.tag;
      this.ack(id, h);
      const waiting = this.arrivals.get(id);
      if (waiting) { this.arrivals.delete(id); waiting(); }
      return;
    }
    if (this.removed.has(id)) { this.settle(d.tag); return; } // a failover brought back one we removed
    if (rec.t === 'mark') {
      // An old load's mark (that connection died loading) means nothing now.
      this.settle(d.tag);
      if (this.loading?.mark === id) {
        const { done } = this.loading;
        this.loading = undefined;
        this.records.delete(id);
        done([...this.records].map(([rid, h]) => [rid, h.rec]));
      }
      return;
    }
    if (h) {
      h.tag = d.tag; // ours, or the same record again after a failover: the newest delivery
    } else {
      this.records.set(id, { rec, tag: d.tag });
    }
    const arrived = this.arrivals.get(id);
    if (arrived) { this.arrivals.delete(id); arrived(); }
  }

  private settle(tag: number): void {
    if (this.c.session!.holds(tag)) this.c.session!.settle('ack', tag, '');
  }

  /**
   * A clean session [MQTT-3.1.2-6]: whatever a previous persistent session of this client id
   * left (its records and its durable subscriptions with their backlogs) is discarded.
   */
  discard(done: (ok: boolean) => void, claimed: () => void, taken: (message: string) => void): void {
    const c = this.c;
    this.load((records) => {
      for (const [, rec] of records) {
        if (rec.t !== 'sub') continue;
        // UNSUBSCRIBE with removeDurable needs the durable active on this session first.
        const id = `$discard:${rec.f}`;
        c.session!.subscribe({
          subscriptionId: id, destination: filterDestination(rec.f), ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL' as AckMode,
          prefetch: 1, selector: '', durableName: rec.f, noLocal: false, priority: 0,
        }, c.expect(() => undefined, () => undefined));
        c.session!.unsubscribe(id, true, c.expect(() => undefined, () => undefined));
      }
      this.records.clear();
      c.session!.unsubscribe(SESSION_SUBSCRIPTION, true, c.expect(() => done(true), () => done(false)));
    }, (code, message) => (code === 'CLIENT_ID_TAKEN' ? taken(message) : done(false)), claimed);
  }

  /** The connection is closing: nothing to do (records stay until removed). */
  closing(): void { this.loading = undefined; }
}
