// SessionState's record removal against the order deliveries come in (docs/reliability.md D7).
// A connection stands in for MqttConnection: SENDs and ACKs are recorded, and a test answers
// an ACK's receipt itself, as the store would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@hawser/proto';
import { createLogger } from '@hawser/observability';
import type { ClientDelivery } from '../../session/client-session';
import type { MqttConnection } from './connection';
import { SessionState, SESSION_SUBSCRIPTION, type SessionRecord } from './session-state';

function fakeConnection() {
  const sent: Message[] = [];
  const acks: Array<{ tag: number; token: string | undefined }> = [];
  const held = new Set<number>();
  const expected = new Map<string, () => void>();
  let seq = 0;
  let token = 0;
  const c = {
    clientId: 'qos2-publisher',
    id: 'conn-1',
    isOpen: true,
    log: createLogger({ service: 'session-state-test', level: 'silent' }),
    nextMessageId: () => `conn-1:${++seq}`,
    expect: (ok: () => void) => { const t = `t${++token}`; expected.set(t, ok); return t; },
    session: {
      send: (m: Message) => { sent.push(m); },
      holds: (tag: number) => held.has(tag),
      settle: (_kind: 'ack' | 'nack', tag: number, _tx: string, receipt?: string) => { held.delete(tag); acks.push({ tag, token: receipt }); },
    },
  };
  /** The store delivers record `m` with store tag `tag` on the durable. */
  const deliver = (state: SessionState, m: Message, tag: number, redelivered = false) => {
    held.add(tag);
    state.onDelivery({ subscriptionId: SESSION_SUBSCRIPTION, message: m, tag, redelivered, deliveryCount: redelivered ? 2 : 1 } as ClientDelivery);
  };
  /** The store receipts the ACK that carried `token`. */
  const receipt = (t: string | undefined) => { if (t) { const f = expected.get(t); expected.delete(t); f?.(); } };
  return { c: c as unknown as MqttConnection, sent, acks, deliver, receipt };
}

const recordOf = (m: Message): SessionRecord => JSON.parse(Buffer.from(m.body).toString('utf8')) as SessionRecord;

test('a record removed before its delivery came (PUBREL first) is acked when it comes, and the removal completes', () => {
  const f = fakeConnection();
  const state = new SessionState(f.c);
  // After a reconnect the `in` record is written afresh (connect.ts) and the client's PUBREL,
  // sent again right after CONNACK, comes before the store delivers that new record back.
  const id = state.add({ t: 'in', p: 7 });
  let completed = 0;
  state.remove(id, () => { completed++; });
  assert.equal(completed, 0, 'nothing to ack yet: the record has not come back');
  f.deliver(state, f.sent.find((m) => m.id === id)!, 41);
  assert.deepEqual(f.acks.map((a) => a.tag), [41], 'its delivery is acked');
  assert.equal(completed, 0, 'done once the store confirms the ack');
  f.receipt(f.acks[0]!.token);
  assert.equal(completed, 1, 'the removal completed (the PUBCOMP goes out)');
  // The same record again (a failover before the ack took) is acked without another callback.
  f.deliver(state, f.sent.find((m) => m.id === id)!, 3, true);
  assert.deepEqual(f.acks.map((a) => a.tag), [41, 3]);
  assert.equal(completed, 1);
});

test('a record delivered before its removal is acked at once on remove()', () => {
  const f = fakeConnection();
  const state = new SessionState(f.c);
  const id = state.add({ t: 'in', p: 8 });
  f.deliver(state, f.sent.find((m) => m.id === id)!, 5);
  assert.equal(recordOf(f.sent[0]!).t, 'in');
  let completed = 0;
  state.remove(id, () => { completed++; });
  assert.deepEqual(f.acks.map((a) => a.tag), [5]);
  f.receipt(f.acks[0]!.token);
  assert.equal(completed, 1);
});
