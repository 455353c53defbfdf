// Deliveries from the store -> PUBLISH to the client, and the client's PUBACK, PUBREC and
// PUBCOMP (the outbound half of QoS 1 and 2, MQTT 3.1.1 section 4.3):
//   QoS 0: written and acked to the store at once;
//   QoS 1: the store's delivery stays unacked until PUBACK (at least once: after a reconnect
//          or a failover the store delivers it again, and it goes out again with DUP);
//   QoS 2: unacked until PUBREC; then the ack and, in a persistent session, a {t:'rel'} record
//          go to the store in ONE transaction, and PUBREL follows once it is committed; PUBCOMP
//          removes the record. A copy of a message the client already has (the store delivered
//          it again after a failover lost our ack) is acked without reaching the client.
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPublishPacket } from 'mqtt-packet';
import type { Message } from '@hawser/proto';
import type { ClientDelivery } from '../../session/client-session';
import { ProtocolError, type InFlightOut, type MqttConnection } from './connection';
import { outPubcomp, outPubrec, outRedelivery } from './qos2';
import { QOS_HEADER, RETAINED_HEADER } from './publish';
import { matches, topicOf } from './topics';

/** QoS 2 messages the client completed, remembered per connection (bounded) against failover copies. */
const COMPLETED = 10_000;

/**
 * The QoS a message was published with: an MQTT publisher's (ActiveMQ.MQTT.QoS); otherwise
 * a persistent message is QoS 1 and a non-persistent one QoS 0, as ActiveMQ maps them.
 */
export function publishedQos(m: Message): 0 | 1 | 2 {
  const h = m.headers?.[QOS_HEADER];
  if (h === '0' || h === '1' || h === '2') return Number(h) as 0 | 1 | 2;
  return m.persistent ? 1 : 0;
}

function settle(c: MqttConnection, tag: number, transaction = '', token?: string): void {
  const s = c.session!;
  if (tag && s.holds(tag)) s.settle('ack', tag, transaction, token);
  else if (token !== undefined) c.onReceipt(token);
}

export function onDelivery(c: MqttConnection, d: ClientDelivery): void {
  const sub = c.bySubscriptionId.get(d.subscriptionId);
  // Not a subscription of the client (a clean session discarding an old durable): the store
  // takes it back with the subscription.
  if (!sub) return;
  const m = d.message;
  const ack = () => (d.written ? d.written() : settle(c, d.tag));
  const topic = topicOf(m.destination);
  // [MQTT-3.3.5-1] overlapping subscriptions: the client gets the message once, at the highest
  // QoS of its matching subscriptions. Another subscription's copy is acked when the client has
  // acknowledged the one it got (at once if that needs no acknowledgement or already had one).
  if (!c.firstCopy(m.id, d.subscriptionId)) {
    const pid = c.outByMessage.get(`${c.firstBy(m.id)}\u0000${m.id}`);
    const f = pid !== undefined ? c.outbound.get(pid) : undefined;
    if (f && !d.written && f.state !== 'released') (f.copies ??= []).push(d.tag);
    else ack();
    return;
  }
  const key = `${d.subscriptionId}\u0000${m.id}`;
  if (c.completedQos2.has(key)) { ack(); return; }
  let granted = sub.qos;
  if (granted < 2 && c.subscriptions.size > 1) {
    for (const other of c.subscriptions.values()) if (other.qos > granted && matches(other.filter, topic)) granted = other.qos;
  }
  const qos = Math.min(granted, publishedQos(m)) as 0 | 1 | 2;
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic,
    payload: Buffer.from(m.body),
    qos,
    retain: m.headers?.[RETAINED_HEADER] === 'true',
    dup: false,
  };
  if (qos === 0) {
    c.write(packet, d.written ? (err) => { if (!err) d.written!(); } : undefined);
    if (!d.written) settle(c, d.tag);
    return;
  }
  // A QoS 0 subscription's copy carried at a higher QoS: the store forgets it once written.
  if (d.written) d.written();
  const known = c.outByMessage.get(key);
  if (known !== undefined) {
    const f = c.outbound.get(known)!;
    const action = f.qos === 2 ? outRedelivery(f.state) : { do: 'resend' as const };
    f.tag = d.tag;
    if (action.do === 'ack-silently') { settle(c, d.tag); return; }
    if (action.do === 'hold') {
      // The PUBREC's transaction met a move (qos2.ts [*]): the message came again, so it did not commit.
      if (f.inDoubt) { f.inDoubt = false; redoRelease(c, known, f); } else f.redelivered = true;
      return;
    }
    // The same packet id again, with DUP [MQTT-3.3.1-1] (a resumed session's id included: its
    // PUBLISH is rebuilt from the store's copy).
    f.packet ??= { ...packet, qos: f.qos, messageId: known };
    if (f.waiting) return; // its record is being stored: it goes out then
    c.write({ ...(f.packet as IPublishPacket), dup: true });
    return;
  }
  const pid = c.outIds.allocate();
  if (pid === 0) throw new ProtocolError('pid_exhausted', 'all 65535 packet identifiers are in flight: the client acknowledges nothing');
  packet.messageId = pid;
  const f: InFlightOut = { qos, state: 'published', tag: d.tag, subscriptionId: d.subscriptionId, messageId: m.id, packet };
  c.outbound.set(pid, f);
  c.outByMessage.set(key, pid);
  if (qos === 2 && !c.clean) {
    // Persistent session: the packet id is stored before the PUBLISH goes out, so a reconnect
    // (to any gateway) resends this message with the same id [MQTT-4.4.0-1] — a client that
    // delivers on PUBLISH then knows it for a duplicate.
    f.waiting = true;
    f.outRecord = c.sessionState!.add({ t: 'out', p: pid, s: d.subscriptionId, m: m.id }, '', c.expect(() => {
      f.waiting = false;
      if (c.outbound.get(pid) === f && f.state === 'published') c.write(f.packet!);
    }, (e) => c.fail(e)));
    return;
  }
  c.write(packet);
}

/**
 * A persistent session's QoS 1 or 2 PUBLISH that had no PUBACK / PUBREC (connect.ts, from its
 * `out1` / `out` record): its id waits for the store's redelivery, which goes out with it and DUP.
 */
export function resumePublish(c: MqttConnection, pid: number, subscriptionId: string, messageId: string, record: string | undefined, qos: 1 | 2 = 2): void {
  c.outIds.take(pid);
  c.outbound.set(pid, { qos, state: 'published', tag: 0, subscriptionId, messageId, outRecord: record });
  c.outByMessage.set(`${subscriptionId}\u0000${messageId}`, pid);
}

/**
 * A persistent session's connection is closing: the QoS 1 PUBLISHes the client has not
 * acknowledged (their deliveries go back to the store unacked) are written down in ONE `out1`
 * record with their packet ids, so the next connection resends each with its original id and
 * DUP [MQTT-4.4.0-1] — a write per close instead of one per QoS 1 delivery (QoS 2 pays that
 * write for exactly once). Sent before the session ends, on the same stream: the next
 * connection can read the records only once this session let go of them, so it finds it.
 */
export function saveQos1(c: MqttConnection): void {
  if (c.clean || !c.sessionState || !c.session) return;
  const l: Array<[number, string, string]> = [];
  for (const [pid, f] of c.outbound) {
    // Only what went out on this connection (tag set) of a subscription it still has: an id
    // resumed whose message never came again (expired, its filter unsubscribed) is let go.
    if (f.qos === 1 && f.tag !== 0 && c.bySubscriptionId.has(f.subscriptionId)) l.push([pid, f.subscriptionId, f.messageId]);
  }
  if (l.length === 0) return;
  try {
    c.sessionState.add({ t: 'out1', l });
  } catch (e) {
    c.log.info({ err: (e as Error).message }, 'QoS 1 packet ids not kept for the next connection: they go out with new ids');
  }
}

/** Acks the other subscriptions' copies of an outbound message (in `transaction` when given). */
function settleCopies(c: MqttConnection, f: InFlightOut, transaction = ''): void {
  for (const tag of f.copies ?? []) settle(c, tag, transaction);
  f.copies = undefined;
}

function forget(c: MqttConnection, pid: number, f: InFlightOut): void {
  settleCopies(c, f);
  c.outbound.delete(pid);
  c.outIds.free(pid);
  const key = `${f.subscriptionId}\u0000${f.messageId}`;
  c.outByMessage.delete(key);
  if (f.qos === 2) {
    const done = c.completedQos2;
    done.add(key);
    if (done.size > COMPLETED) done.delete(done.values().next().value!);
  }
}

// PUBACK: QoS 1 done [MQTT-4.3.2].
export function onPuback(c: MqttConnection, p: IPubackPacket): void {
  const pid = p.messageId ?? 0;
  const f = c.outbound.get(pid);
  if (!f || f.qos !== 1) return;
  settle(c, f.tag);
  forget(c, pid, f);
}

// PUBREC: the client has the QoS 2 message [MQTT-4.3.3].
export function onPubrec(c: MqttConnection, p: IPubrecPacket): void {
  const pid = p.messageId ?? 0;
  const f = c.outbound.get(pid);
  const action = outPubrec(f?.qos === 2 ? f.state : undefined);
  if (action.do === 'ignore') return;
  if (action.do === 'pubrel') { c.write({ cmd: 'pubrel', messageId: pid }); return; }
  ackAndRelease(c, pid, f!);
}

function ackAndRelease(c: MqttConnection, pid: number, f: InFlightOut): void {
  f.state = 'releasing';
  const released = () => {
    if (c.outbound.get(pid) !== f) return;
    f.state = 'released';
    c.write({ cmd: 'pubrel', messageId: pid });
  };
  if (c.clean) {
    settle(c, f.tag);
    settleCopies(c, f);
    f.tag = 0;
    released();
    return;
  }
  const session = c.session!;
  const tx = `mqtt-rel:${c.nextMessageId()}`;
  session.transaction('begin', tx);
  settle(c, f.tag, tx);
  settleCopies(c, f, tx);
  if (f.outRecord) { c.sessionState!.remove(f.outRecord, undefined, tx); f.outRecord = undefined; }
  const record = c.sessionState!.add({ t: 'rel', p: pid }, tx);
  f.record = record;
  session.transaction('commit', tx, c.expect(() => {
    // A copy delivered meanwhile (not from a move: this commit went through) is the client's already.
    if (f.redelivered) { f.redelivered = false; settle(c, f.tag); }
    f.tag = 0;
    released();
  }, (e) => {
    if (e.code !== 'TRANSACTION_ROLLED_BACK') { c.fail(e); return; }
    // The session moved to a new master with the transaction open (qos2.ts [*]).
    if (f.redelivered) { f.redelivered = false; redoRelease(c, pid, f); return; }
    f.inDoubt = true;
    c.sessionState!.whenArrives(record, () => {
      if (!f.inDoubt || c.outbound.get(pid) !== f) return;
      // The PUBREL record is in the store: the old master committed it.
      f.inDoubt = false;
      f.tag = 0;
      released();
    });
  }));
}

/** The PUBREC's transaction again, with the message's new delivery: the first one did not commit. */
function redoRelease(c: MqttConnection, pid: number, f: InFlightOut): void {
  if (f.record) c.sessionState!.remove(f.record);
  f.record = undefined;
  ackAndRelease(c, pid, f);
}

/** A persistent session's PUBREL read back from its record (connect.ts): sent again [MQTT-4.4.0-1]. */
export function resumeRelease(c: MqttConnection, pid: number, record: string): void {
  c.outIds.take(pid);
  c.outbound.set(pid, { qos: 2, state: 'released', tag: 0, subscriptionId: '', messageId: `$rel:${pid}`, record });
  c.write({ cmd: 'pubrel', messageId: pid });
}

// PUBCOMP: QoS 2 done; the packet id is free.
export function onPubcomp(c: MqttConnection, p: IPubcompPacket): void {
  const pid = p.messageId ?? 0;
  const f = c.outbound.get(pid);
  const action = outPubcomp(f?.qos === 2 ? f.state : undefined);
  if (action.do !== 'complete') return;
  if (f!.record) c.sessionState!.remove(f!.record);
  forget(c, pid, f!);
}
