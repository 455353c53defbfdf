// Selectors cannot hurt the broker (issue 10). Found by an attacker: one anonymous client
// subscribed with `h LIKE '%a%a%a%a%a%b'` and sent one message whose header h is 300 a's; LIKE
// was a backtracking RegExp and the store's event loop stopped for minutes — every other client's
// SENDs went unanswered. Here, with real processes: the same attack while another client keeps
// sending with receipts (each must come within RECEIPT_DEADLINE_MS), the pathological selector
// still matching right; selectors over the limits refused at SUBSCRIBE; and a durable
// subscription whose stored selector no longer compiles (a lowered limit across a restart)
// reported and matching nothing, never everything.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { AbortCheck, Harness, checkFor, httpGet, type Gateway, type Store } from './harness';
import { Clients, RawStomp, drain, texts, unique, pidAlive } from './support';

const ATTACK = "h LIKE '%a%a%a%a%a%b'";
/** Far above a receipt's time on this machine, far below what the old RegExp took (minutes). */
const RECEIPT_DEADLINE_MS = 5000;

describe('selector attack', { timeout: 180_000 }, () => {
  const h = new Harness('selector-attack');
  let store: Store;
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    ({ store, gateway } = await h.startBroker());
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(async () => {
    await clients.closeAll();
    await h.close();
  });

  it("h LIKE '%a%a%a%a%a%b' and 300 a's: another client's receipts keep coming; the selector still matches right", { timeout: 90_000 }, async () => {
    const queue = unique('/queue/attack');
    const topic = unique('/topic/attack');
    const witnessQueue = unique('/queue/witness');
    const attacker = await clients.connect();
    const witness = await clients.connect({ receiptTimeoutMs: RECEIPT_DEADLINE_MS });

    // The witness sends with a receipt each, all along; a receipt later than the deadline fails its send.
    let stop = false;
    let failed: Error | undefined;
    const latencies: number[] = [];
    const witnessLoop = (async () => {
      for (let i = 0; !stop; i++) {
        const t0 = Date.now();
        await witness.send(witnessQueue, `w${i}`);
        latencies.push(Date.now() - t0);
      }
    })();
    witnessLoop.catch((e: Error) => { failed = e; }); // awaited below too
    /** Waits for `n` witness receipts; stops at once when one did not come in time. */
    const receipts = (n: number, deadlineMs: number) => checkFor(deadlineMs, 20, () => {
      if (failed) throw new AbortCheck(`a witness SEND got no receipt within ${RECEIPT_DEADLINE_MS} ms: ${failed.message}`);
      if (latencies.length < n) throw new Error(`${latencies.length} of ${n} witness receipts`);
    });
    await receipts(20, 20_000);

    // The attack, on a queue (the selector runs at dispatch) and on a topic (it runs at publish).
    const onQueue = await attacker.subscribe(queue, { selector: ATTACK });
    const onTopic = await attacker.subscribe(topic, { selector: ATTACK });
    const bait = 'a'.repeat(300);
    const sentAt = latencies.length;
    const t0 = Date.now();
    const attack = Promise.all([
      attacker.send(queue, 'bait', { headers: { h: bait } }),
      attacker.send(topic, 'bait', { headers: { h: bait } }),
    ]).then(() => Date.now() - t0);
    attack.catch(() => undefined); // awaited below, after the witness has had its say
    await receipts(sentAt + 50, 30_000);
    stop = true;
    await witnessLoop; // rejects (failing the test) if any receipt took over RECEIPT_DEADLINE_MS
    const attackMs = await attack;
    const after = latencies.slice(sentAt);
    assert.ok(Math.max(...after) < RECEIPT_DEADLINE_MS, `witness receipts after the attack: max ${Math.max(...after)} ms`);
    assert.ok(attackMs < 2 * RECEIPT_DEADLINE_MS, `the attacker's own two SENDs took ${attackMs} ms`);
    assert.ok(pidAlive(store.pid), 'the store lives');

    // Still right: 300 a's do not match, 300 a's and a b do.
    await attacker.send(queue, 'match', { headers: { h: `${bait}b` } });
    await attacker.send(topic, 'match', { headers: { h: `${bait}b` } });
    assert.equal((await onQueue.next(10_000)).text, 'match');
    assert.equal((await onTopic.next(10_000)).text, 'match');
    assert.deepEqual(texts(await drain(onQueue, 500)), []);
    assert.deepEqual(texts(await drain(onTopic, 500)), []);
    // The bait stayed on the queue for a consumer without the selector.
    const plain = await clients.connect();
    const all = await plain.subscribe(queue);
    assert.equal((await all.next(10_000)).text, 'bait');

    const metrics = (await httpGet(store.httpPort, '/metrics')).body;
    assert.match(metrics, /^hawser_store_selector_errors_total(\{[^}]*\})? 0$/m);
  });

  for (const c of [
    { name: 'longer than broker.selectorMaxLength (4096)', selector: `a = 1 ${'AND a = 1 '.repeat(500)}`, message: /5006 characters long; the limit is 4096 \(broker\.selectorMaxLength\)/ },
    { name: 'deeper than broker.selectorMaxDepth (64)', selector: `${'('.repeat(100)}a = 1${')'.repeat(100)}`, message: /nests more than 64 levels deep \(broker\.selectorMaxDepth\)/ },
    { name: 'whose IN list is over broker.selectorMaxInList (1024)', selector: `a IN (${Array(1025).fill(1).join(',')})`, message: /more than 1024 members; the limit is 1024 \(broker\.selectorMaxInList\)/ },
  ]) {
    it(`a SUBSCRIBE with a selector ${c.name} gets an ERROR naming the limit`, { timeout: 30_000 }, async () => {
      const raw = await RawStomp.open(gateway.stompPort);
      try {
        await raw.handshake();
        raw.write(`SUBSCRIBE\nid:s1\ndestination:${unique('/queue/limits')}\nselector:${c.selector}\nreceipt:r1\n\n\0`);
        const err = await raw.expectErrorAndClose(10_000);
        assert.match(err.headers['message'] ?? '', c.message);
        assert.ok((err.headers['message'] ?? '').length < 1000, 'the ERROR quotes the start of the selector only');
      } finally {
        raw.destroy();
      }
      const other = await clients.connect();
      const q = unique('/queue/after-limits');
      await other.send(q, 'fine');
      assert.equal((await (await other.subscribe(q)).next(10_000)).text, 'fine');
    });
  }

  it('a durable subscription whose selector no longer compiles after a restart is reported and matches nothing, until re-subscribed', { timeout: 90_000 }, async () => {
    const topic = unique('/topic/durable');
    const selector = "kind = 'x' AND n <> 0 AND n <> 1 AND n <> 2";
    const owner = await clients.connect({ clientId: 'selector-owner' });
    await owner.subscribe(topic, { durableName: 'picky', selector });
    await owner.disconnect();
    const other = await clients.connect({ clientId: 'selector-other' });
    await other.subscribe(topic, { durableName: 'all' });
    await other.disconnect();

    // The operator lowers broker.selectorMaxLength below that selector's length and restarts.
    await store.stop();
    const args = [...store.spec.args, '--broker.selectorMaxLength', '30'];
    args[args.indexOf('--grpc.port') + 1] = String(store.grpcPort); // the gateway dials the same address
    args[args.indexOf('--http.port') + 1] = '0';
    await store.start(30_000, args);
    await checkFor(30_000, 100, () => {
      if (!store.logLines(/durable subscription restored with a selector that does not compile/).some((l) => l.includes('selector-owner'))) throw new Error('not logged yet');
    });
    const metrics = (await httpGet(store.httpPort, '/metrics')).body;
    assert.match(metrics, /^hawser_store_durable_selectors_broken(\{[^}]*\})? 1$/m);

    // Never matched to everything: a message the selector would have matched, and one it would not, reach only 'all'.
    const producer = await checkFor(30_000, 200, () => clients.connect());
    await producer.send(topic, 'would-match', { headers: { kind: 'x', n: '5' } });
    await producer.send(topic, 'would-not', { headers: { kind: 'y' } });
    const back = await clients.connect({ clientId: 'selector-other' });
    const allSub = await back.subscribe(topic, { durableName: 'all' });
    assert.deepEqual(texts(await drain(allSub, 1000)).sort(), ['would-match', 'would-not']);

    // The owner, back with the same selector, is told why; with one that compiles, it works again.
    const raw = await RawStomp.open(gateway.stompPort);
    try {
      raw.write('CONNECT\naccept-version:1.2\nhost:localhost\nclient-id:selector-owner\nheart-beat:0,0\n\n\0');
      await raw.waitFor((f) => f.some((x) => x.command === 'CONNECTED'), 10_000, 'CONNECTED');
      raw.version = '1.2';
      raw.write(`SUBSCRIBE\nid:s1\ndestination:${topic}\nactivemq.subscriptionName:picky\nselector:${selector}\nreceipt:r1\n\n\0`);
      const err = await raw.expectErrorAndClose(10_000);
      assert.match(err.headers['message'] ?? '', /broker\.selectorMaxLength/);
    } finally {
      raw.destroy();
    }
    const owner2 = await clients.connect({ clientId: 'selector-owner' });
    const picky = await owner2.subscribe(topic, { durableName: 'picky', selector: "kind = 'x'" });
    assert.deepEqual(texts(await drain(picky, 500)), [], 'replacing the subscription drops its (empty) backlog');
    await producer.send(topic, 'now', { headers: { kind: 'x' } });
    assert.equal((await picky.next(10_000)).text, 'now');
    const healed = (await httpGet(store.httpPort, '/metrics')).body;
    assert.match(healed, /^hawser_store_durable_selectors_broken(\{[^}]*\})? 0$/m);
  });
});
