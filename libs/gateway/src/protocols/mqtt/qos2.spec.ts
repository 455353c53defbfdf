// The QoS 2 state tables of qos2.ts, row by row (the table in its header comment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inPublish, inPubrel, outPubcomp, outPubrec, outRedelivery, PacketIds, type InState, type OutState } from './qos2';

test('inbound: PUBLISH and PUBREL per packet id state', () => {
  const rows: Array<[InState | undefined, boolean, string]> = [
    [undefined, false, 'store'],
    [undefined, true, 'store'],          // a DUP we never saw (the first attempt was lost): store it
    ['storing', false, 'ignore'],
    ['storing', true, 'ignore'],         // PUBREC follows the store's confirmation
    ['stored', true, 'pubrec'],          // a duplicate: not stored twice
    ['stored', false, 'store-replacing'],// DUP 0 is a new message [MQTT-3.3.1-1]
  ];
  for (const [state, dup, want] of rows) assert.equal(inPublish(state, dup).do, want, `${state} dup=${dup}`);
  assert.equal(inPubrel(undefined).do, 'pubcomp');   // unknown id: PUBCOMP all the same
  assert.equal(inPubrel('stored').do, 'release');
  assert.equal(inPubrel('storing').do, 'release-after-store');
});

test('outbound: PUBREC, PUBCOMP and a redelivery per packet id state', () => {
  const rows: Array<[OutState | undefined, string, string, string]> = [
    // state        PUBREC              PUBCOMP     redelivery
    ['published', 'ack-and-release', 'ignore', 'resend'],
    ['releasing', 'ignore', 'ignore', 'hold'],
    ['released', 'pubrel', 'complete', 'ack-silently'],
    [undefined, 'pubrel', 'ignore', 'resend'],
  ];
  for (const [state, rec, comp, again] of rows) {
    assert.equal(outPubrec(state).do, rec, `PUBREC in ${state}`);
    assert.equal(outPubcomp(state).do, comp, `PUBCOMP in ${state}`);
    assert.equal(outRedelivery(state).do, again, `redelivery in ${state}`);
  }
});

test('packet ids: 1..65535, never 0, freed ids come back, exhaustion says 0', () => {
  const ids = new PacketIds();
  assert.equal(ids.allocate(), 1);
  ids.take(2);
  assert.equal(ids.allocate(), 3, 'a taken id is skipped');
  ids.free(1);
  const seen = new Set<number>();
  for (let i = 0; i < 65533; i++) seen.add(ids.allocate());
  assert.equal(ids.size, 65535);
  assert.ok(!seen.has(0));
  assert.equal(ids.allocate(), 0, 'all in flight');
  ids.free(40000);
  assert.equal(ids.allocate(), 40000);
});
