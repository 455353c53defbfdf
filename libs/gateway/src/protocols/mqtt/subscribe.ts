// SUBSCRIBE -> SUBACK and UNSUBSCRIBE -> UNSUBACK (MQTT 3.1.1 sections 3.8-3.11). Each topic
// filter is one broker subscription on its destination (`a/+/#` -> `/topic/a.*.>`, topics.ts),
// named by the filter: QoS 0 is acked as written (auto), QoS 1 and 2 when the client
// acknowledges. In a persistent session it is a durable subscription (client id = the MQTT
// client id, name = the filter) and a {t:'sub'} record remembers it across connections.
// The granted QoS is the requested one (the broker stores QoS 1 and 2 alike); a message is
// delivered at min(granted, published) [MQTT-3.8.4-6]. A refused filter gets 0x80.
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { AckMode } from '@hawser/proto';
import { LimitExceededError, type StoreRejectedError } from '../../errors';
import type { MqttConnection, MqttSubscription } from './connection';
import { filterDestination, MalformedUtf8Error, TopicError } from './topics';

/** SUBACK return code of a refused filter [MQTT-3.9.3-2]. */
export const SUBACK_FAILURE = 0x80;

/**
 * Opens the broker subscription of `filter` and calls back with the granted QoS, or with
 * SUBACK_FAILURE when the filter is bad, a limit is reached or the store refuses it.
 */
function subscribeFilter(c: MqttConnection, filter: string, qos: 0 | 1 | 2, done: (granted: number) => void, record?: string): void {
  let destination: string;
  try {
    destination = filterDestination(filter);
  } catch (e) {
    if (!(e instanceof TopicError) || e instanceof MalformedUtf8Error) throw e; // ill-formed UTF-8 closes the connection
    c.log.info({ filter, error: e.message }, 'MQTT SUBSCRIBE of a bad topic filter: refused');
    done(SUBACK_FAILURE);
    return;
  }
  const session = c.session!;
  const existing = c.subscriptions.get(filter);
  // [MQTT-3.8.4-3] a filter already subscribed is replaced (its durable backlog kept).
  if (existing) {
    c.subscriptions.delete(filter);
    c.bySubscriptionId.delete(existing.subscriptionId);
    session.unsubscribe(existing.subscriptionId, false);
    if (existing.record && existing.record !== record) c.sessionState?.remove(existing.record);
  }
  const sub: MqttSubscription = { filter, qos, subscriptionId: filter, record };
  const persistent = !c.clean;
  try {
    session.subscribe({
      subscriptionId: sub.subscriptionId,
      destination,
      ackMode: (qos === 0 ? 'ACK_MODE_AUTO' : 'ACK_MODE_CLIENT_INDIVIDUAL') as AckMode,
      prefetch: c.ctx.config.mqtt.maxInflight,
      selector: '',
      durableName: persistent ? filter : '',
      noLocal: false,
      priority: 0,
    }, c.expect(() => done(qos), (e: StoreRejectedError) => {
      c.subscriptions.delete(filter);
      c.bySubscriptionId.delete(sub.subscriptionId);
      if (sub.record) c.sessionState?.remove(sub.record);
      c.log.info({ filter, code: e.code, error: e.message }, 'MQTT SUBSCRIBE refused by the store');
      done(SUBACK_FAILURE);
      // A refusal the store ended the session with leaves nothing to go on with.
      if (e.fatal) c.fail(e);
    }));
  } catch (e) {
    if (!(e instanceof LimitExceededError)) throw e;
    c.ctx.metrics.limitRefusals.inc({ limit: e.limit });
    c.log.info({ filter, limit: e.limit }, 'MQTT SUBSCRIBE refused: limit reached');
    done(SUBACK_FAILURE);
    return;
  }
  c.subscriptions.set(filter, sub);
  c.bySubscriptionId.set(sub.subscriptionId, sub);
  if (persistent && !sub.record) sub.record = c.sessionState!.add({ t: 'sub', f: filter, q: qos });
}

export function onSubscribe(c: MqttConnection, p: ISubscribePacket): void {
  const pid = p.messageId ?? 0;
  const granted: number[] = new Array(p.subscriptions.length).fill(SUBACK_FAILURE);
  let left = p.subscriptions.length;
  // [MQTT-3.8.4-1] one SUBACK, its return codes in the order of the filters [MQTT-3.9.3-1].
  const answer = (i: number) => (code: number) => {
    granted[i] = code;
    if (--left === 0) c.write({ cmd: 'suback', messageId: pid, granted });
  };
  p.subscriptions.forEach((s, i) => subscribeFilter(c, s.topic, Math.min(s.qos, 2) as 0 | 1 | 2, answer(i)));
}

/** A persistent session's subscription read back from its record (connect.ts). */
export function resumeSubscription(c: MqttConnection, filter: string, qos: 0 | 1 | 2, record: string): void {
  subscribeFilter(c, filter, qos, (code) => {
    if (code === SUBACK_FAILURE) c.log.warn({ filter }, 'a persistent MQTT subscription could not be resumed');
  }, record);
}

export function onUnsubscribe(c: MqttConnection, p: IUnsubscribePacket): void {
  const pid = p.messageId ?? 0;
  let left = 1;
  const done = () => { if (--left === 0) c.write({ cmd: 'unsuback', messageId: pid, granted: [] }); };
  for (const filter of p.unsubscriptions) {
    const sub = c.subscriptions.get(filter);
    // [MQTT-3.10.4-5] UNSUBACK even when no filter matched.
    if (!sub) continue;
    c.subscriptions.delete(filter);
    c.bySubscriptionId.delete(sub.subscriptionId);
    left++;
    // [MQTT-3.10.4-2] the subscription stops; a persistent session's durable goes with it.
    c.session!.unsubscribe(sub.subscriptionId, !c.clean, c.expect(done, () => done()));
    if (sub.record) c.sessionState?.remove(sub.record);
  }
  done();
}
