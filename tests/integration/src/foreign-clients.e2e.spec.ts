// Scenario 2: clients we did not write. @stomp/stompjs over WebSocket (with the `ws`
// package as its WebSocket: Node 20 has no global one) and Debian's python3-stomp over
// TCP. If python3-stomp is missing this FAILS (it is part of the suite's setup), it never
// skips.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
// stomp.js ships its typings as ESM; its `require` entry is a UMD bundle we load at runtime.
import type { Client as StompJsClient, IMessage } from '@stomp/stompjs' with { 'resolution-mode': 'import' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Client } = require('@stomp/stompjs') as { Client: typeof StompJsClient };
import { Harness, ROOT, type Gateway } from './harness';
import { Clients, unique, drain, texts } from './support';
import { STORE_ARGS } from './messaging';
import { findPython, run } from './python';

/** stomp.js Client over `ws`; resolves once connected. */
function stompjs(url: string): Promise<StompJsClient> {
  return new Promise((resolve, reject) => {
    const client = new Client({
      webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      connectionTimeout: 5000,
      debug: () => {},
    });
    client.onConnect = () => resolve(client);
    client.onStompError = (f) => reject(new Error(`stomp.js got ERROR: ${f.headers['message']}`));
    client.onWebSocketError = () => reject(new Error(`stomp.js could not open ${url}`));
    client.activate();
  });
}

describe('foreign clients', { timeout: 120_000 }, () => {
  const h = new Harness('foreign');
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);
  before(async () => {
    ({ gateway } = await h.startBroker({ store: { args: STORE_ARGS } }));
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  it('@stomp/stompjs over WebSocket: connect, send with receipt, subscribe, ack', { timeout: 30_000 }, async () => {
    const q = unique('/queue/stompjs');
    const ours = await clients.connect();
    await ours.send(q, 'from-hawser-client', { persistent: true });

    const js = await stompjs(gateway.wsUri);
    try {
      assert.equal(js.connectedVersion, '1.2');
      const receipt = new Promise<void>((resolve) => js.watchForReceipt('js-r1', () => resolve()));
      js.publish({ destination: q, body: 'from-stompjs', headers: { receipt: 'js-r1', persistent: 'true' } });
      await Promise.race([receipt, new Promise((_, rej) => setTimeout(() => rej(new Error('no RECEIPT for js-r1 within 5 s')), 5000))]);

      const got: IMessage[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stomp.js received ${got.length} of 2 messages`)), 5000);
        js.subscribe(q, (m) => {
          got.push(m);
          m.ack();
          if (got.length === 2) { clearTimeout(timer); resolve(); }
        }, { ack: 'client-individual' });
      });
      assert.deepEqual(got.map((m) => m.body), ['from-hawser-client', 'from-stompjs']);
      // DISCONNECT with a receipt flushes the ACKs before we look.
      await js.deactivate();
    } finally {
      js.forceDisconnect();
    }
    const left = await (await clients.connect()).subscribe(q);
    assert.deepEqual(texts(await drain(left, 700)), [], 'the ACKs stomp.js sent settled the messages');
  });

  it('python3-stomp (Debian) over TCP: connect, send with receipts, subscribe, ack', { timeout: 40_000 }, async () => {
    const { python, tried } = findPython();
    assert.ok(python, `python3-stomp is not installed, so the foreign-client test cannot run. Install it: `
      + `sudo apt-get install -y python3-stomp (or run tools/scripts/setup.sh as root). Tried: ${tried.join('; ')}`);
    const q = unique('/queue/python');
    const ours = await clients.connect();
    await ours.send(q, 'from-hawser-client', { persistent: true });
    const r = await run(python, [join(ROOT, 'tests/integration/py/stomp_roundtrip.py'), '127.0.0.1', String(gateway.stompPort), q, '1'], 30_000);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    let result: { received: string[]; receipts: string[]; errors: string[] };
    try {
      result = JSON.parse(line);
    } catch {
      assert.fail(`stomp_roundtrip.py printed no result (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    assert.equal(r.code, 0, `stomp_roundtrip.py failed: ${line}\nstderr: ${r.stderr}`);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.receipts, ['py-receipt-1', 'py-receipt-2']);
    assert.deepEqual(result.received, ['from-hawser-client', 'from-python-1', 'from-python-2']);
    const left = await (await clients.connect()).subscribe(q);
    assert.deepEqual(texts(await drain(left, 700)), [], 'the ACKs stomp.py sent settled the messages');
  });
});
