// PUBLISH from the client (MQTT 3.1.1 section 3.3, 4.3) and PUBREL, the inbound half of QoS 2:
//   QoS 0: a SEND, nothing back;
//   QoS 1: a persistent SEND; PUBACK once the store confirms it (at least once);
//   QoS 2: a persistent SEND; PUBREC once the store confirms it, PUBCOMP on PUBREL; the packet
//          id stays "stored" in between so a re-sent PUBLISH (DUP) is not stored twice (qos2.ts).
//          In a persistent session that state is a record stored in the SAME transaction as the
//          message (session-state.ts): a client reconnecting anywhere, and a new master, see
//          either both or neither.
// The message keeps the body unchanged; its QoS and retain flag ride in headers a STOMP client
// sees as ActiveMQ names them (ActiveMQ.MQTT.QoS, ActiveMQ.Retain).
import { createHash } from 'node:crypto';
import type { IConnectPacket, IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import type { Message } from '@hawser/proto';
import { ProtocolError, type MqttConnection, type InFlightIn } from './connection';
import { inPublish, inPubrel } from './qos2';
import { publishDestination } from './topics';

/** The header carrying the QoS an MQTT client published with (ActiveMQ's property name). */
export const QOS_HEADER = 'ActiveMQ.MQTT.QoS';
/** A SEND carrying it is retained by the broker (empty body: clears). */
export const RETAIN_HEADER = 'ActiveMQ.Retain';
/** A delivery carrying it is a retained message (the MQTT retain flag). */
export const RETAINED_HEADER = 'ActiveMQ.Retained';

function message(c: MqttConnection, topic: string, payload: Buffer | string, qos: number, retain: boolean): Message {
  const headers: Record<string, string> = { [QOS_HEADER]: String(qos) };
  if (retain) headers[RETAIN_HEADER] = 'true';
  return {
    id: c.nextMessageId(),
    destination: publishDestination(topic),
    headers,
    body: typeof payload === 'string' ? Buffer.from(payload) : payload,
    // QoS 0 is fire and forget (ActiveMQ: non-persistent); 1 and 2 must survive the store.
    persistent: qos > 0,
    priority: 4,
    expires: 0,
    timestamp: 0,
  };
}

export function willMessage(c: MqttConnection, w: NonNullable<IConnectPacket['will']>): Message {
  return message(c, w.topic, w.payload, w.qos ?? 0, w.retain === true);
}

export function onPublish(c: MqttConnection, p: IPublishPacket): void {
  const session = c.session!;
  const m = message(c, p.topic, p.payload, p.qos, p.retain);
  const pid = p.messageId ?? 0;
  if (p.qos > 0 && pid === 0) throw new ProtocolError('malformed', 'a QoS 1 or 2 PUBLISH needs a packet identifier [MQTT-2.3.1-1]');
  // MQTT 3.1.1 has no negative acknowledgement: a PUBLISH the store refuses (not authorized, no
  // room) closes the connection, and the client sends it again after reconnecting.
  const refused = (e: Parameters<MqttConnection['fail']>[0]) => c.fail(e);
  if (p.qos === 0) {
    session.send(m, '');
    return;
  }
  if (p.qos === 1) {
    // A DUP of a PUBLISH still being stored is the same one: its PUBACK follows.
    if (c.inQos1.has(pid)) return;
    c.inQos1.add(pid);
    session.send(m, '', c.expect(() => {
      c.inQos1.delete(pid);
      c.write({ cmd: 'puback', messageId: pid });
    }, refused));
    return;
  }
  const entry = c.inQos2.get(pid);
  const digest = publishDigest(p);
  let action = inPublish(entry?.state, p.dup);
  if (action.do === 'store-replacing' && entry?.digest === digest) {
    // The same PUBLISH again without DUP: clients resend a stored one that way after a reconnect
    // (mqtt.js, paho) although MQTT-3.3.1-1 asks for DUP; storing it again would deliver it twice.
    c.log.debug({ pid }, 'QoS 2 PUBLISH without DUP, the same as the one stored under its packet id: a resend, PUBREC again');
    action = { do: 'pubrec' };
  }
  switch (action.do) {
    case 'ignore': return;
    case 'pubrec': c.write({ cmd: 'pubrec', messageId: pid }); return;
    case 'store-replacing':
      c.log.debug({ pid }, 'QoS 2 PUBLISH without DUP on a stored packet id: a new message, the old state is stale');
      if (entry!.record) c.sessionState!.remove(entry!.record);
      c.inQos2.delete(pid);
      storeQos2(c, pid, m, digest, refused);
      return;
    default:
      storeQos2(c, pid, m, digest, refused);
  }
}

/**
 * What a QoS 2 PUBLISH carries (topic, retain, payload), hashed: kept with its packet id's state
 * (and `in` record), so the same PUBLISH resent without DUP is told from a new message on that id.
 */
function publishDigest(p: IPublishPacket): string {
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  return createHash('sha256').update(`${p.topic}\u0000${p.retain ? 1 : 0}\u0000`).update(payload ?? Buffer.alloc(0)).digest('base64').slice(0, 22);
}

function storeQos2(c: MqttConnection, pid: number, m: Message, digest: string, refused: (e: Parameters<MqttConnection['fail']>[0]) => void): void {
  const session = c.session!;
  const entry: InFlightIn = { state: 'storing', digest };
  c.inQos2.set(pid, entry);
  const stored = () => {
    if (c.inQos2.get(pid) !== entry) return;
    entry.state = 'stored';
    c.write({ cmd: 'pubrec', messageId: pid });
    if (entry.releaseAfterStore) release(c, pid, entry);
  };
  if (c.clean) {
    // Within one connection the packet id's state is the gateway's; the message id is fixed,
    // so a failover's resend is dropped by the store's dedup.
    session.send(m, '', c.expect(stored, refused));
    return;
  }
  const tx = `mqtt-qos2:${m.id}`;
  session.transaction('begin', tx);
  session.send(m, tx);
  entry.record = c.sessionState!.add({ t: 'in', p: pid, h: digest }, tx);
  session.transaction('commit', tx, c.expect(stored, refused));
}

// PUBREL: the client got our PUBREC; the packet id is released [MQTT-4.3.3-2].
export function onPubrel(c: MqttConnection, p: IPubrelPacket): void {
  const pid = p.messageId ?? 0;
  const entry = c.inQos2.get(pid);
  const action = inPubrel(entry?.state);
  switch (action.do) {
    // An unknown id (already released, e.g. our PUBCOMP was lost): PUBCOMP all the same.
    case 'pubcomp': c.write({ cmd: 'pubcomp', messageId: pid }); return;
    case 'release-after-store': entry!.releaseAfterStore = true; return;
    default: release(c, pid, entry!);
  }
}

function release(c: MqttConnection, pid: number, entry: InFlightIn): void {
  c.inQos2.delete(pid);
  const done = () => c.write({ cmd: 'pubcomp', messageId: pid });
  if (entry.record) c.sessionState!.remove(entry.record, done);
  else done();
}
