// A deleted destination leaves nothing behind in the core's registry: after hundreds of queues,
// topics and durable subscriptions were made and deleted (what the fuzzer does between its
// rounds, docs/security.md "Fuzzing"), no map or set of the Registry holds more than what is
// still there. The registry kept the last page-read gen of every deleted queue by name for good;
// one number does the job: a page read still out for a deleted queue is not taken by the queue
// made anew under its name.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerCore } from './core';
import { Harness, options } from './testing';

/** Sizes of every Map and Set the core's Registry holds (a private part: the bound is what this spec is about). */
function registrySizes(core: BrokerCore): Record<string, number> {
  const reg = (core as unknown as { reg: Record<string, unknown> }).reg;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(reg)) if (v instanceof Map || v instanceof Set) out[k] = v.size;
  return out;
}

describe('deleted destinations leave nothing in the registry', () => {
  test('300 queues (read back from disk in pages), topics and durable subscriptions made and deleted: every map and set back to what is left', () => {
    const h = new Harness(options({ pageSize: 2 }));
    h.open('p');
    h.take('p');
    for (let i = 0; i < 300; i++) {
      const q = `/queue/gone.${i}`;
      for (let k = 0; k < 8; k++) h.send('p', q, `m${k}`); // over 2 x pageSize: the rest is on disk
      h.open(`c${i}`);
      h.take(`c${i}`);
      h.subscribe(`c${i}`, 's', q, { ackMode: 'ACK_MODE_AUTO' }); // consumes through page reads
      h.end(`c${i}`);
      h.open(`d${i}`, `cid${i}`);
      h.take(`d${i}`);
      h.subscribe(`d${i}`, 's', `/topic/gone.${i}`, { durableName: 'n' });
      h.end(`d${i}`);
      h.send('p', `/topic/gone.${i}`, 'for the durable');
      for (const name of [q, `durable:cid${i}:n`, `/topic/gone.${i}`]) assert.equal(h.core.deleteDestination(name, h.now).ok, true, name);
      h.pump();
    }
    assert.deepEqual(h.core.destinations().map((d) => d.name), []);
    const sizes = registrySizes(h.core);
    assert.ok(Object.keys(sizes).length >= 5, `the registry's collections: ${JSON.stringify(sizes)}`);
    for (const [k, n] of Object.entries(sizes)) assert.equal(n, 0, `Registry.${k} holds ${n} entries with every destination deleted`);
  });

  test('a page read still out when its queue is deleted is not taken by the queue made anew under its name', () => {
    const h = new Harness(options({ pageSize: 2 }));
    h.open('p');
    h.take('p');
    for (let k = 0; k < 8; k++) h.send('p', '/queue/q', `old${k}`);
    // Hold the page reads: record them instead of answering.
    const held: { gen: number }[] = [];
    const real = h.core.pageLoaded.bind(h.core);
    h.core.pageLoaded = (queue, gen, page, full, now) => { if (queue === '/queue/q') held.push({ gen }); else real(queue, gen, page, full, now); };
    h.open('c');
    h.take('c');
    h.subscribe('c', 's', '/queue/q', { ackMode: 'ACK_MODE_AUTO' });
    h.end('c');
    assert.ok(held.length > 0, 'a page read went out');
    assert.equal(h.core.deleteDestination('/queue/q', h.now).ok, true);
    h.pump();
    h.core.pageLoaded = real;
    h.send('p', '/queue/q', 'new');
    // The stale answers come now, with the deleted queue's messages.
    const stale = [{ message: { id: 'x', destination: '/queue/q', headers: {}, body: Buffer.from('old-from-disk'), persistent: true, priority: 4, expires: 0, timestamp: 0 }, seq: 1, failed: 0 }];
    for (const l of held) h.core.pageLoaded('/queue/q', l.gen, stale, false, h.now);
    h.pump();
    h.open('c2');
    h.take('c2');
    h.subscribe('c2', 's', '/queue/q');
    assert.deepEqual(h.bodies('c2'), ['new']);
  });
});
