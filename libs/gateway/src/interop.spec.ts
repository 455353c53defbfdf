// Interop with a real STOMP client library (@stomp/stompjs 7, the browser/Node client) over
// WebSocket, against the gateway and the fake broker: subprotocol, heart-beats, client acks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { IMessage } from '@stomp/stompjs' with { 'resolution-mode': 'import' };
import { loadConfig } from '@hawser/config';
import { createLogger } from '@hawser/observability';
import { schema } from './config';
import { startGateway } from './gateway';
import { FakeBroker, checkFor } from './testkit';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('@stomp/stompjs over WebSocket: connect, subscribe with client-individual acks, publish, receive', async () => {
  const broker = await new FakeBroker().start();
  cleanups.push(() => broker.stop());
  const config = loadConfig(schema, {
    env: {},
    argv: ['--auth.anonymous', 'true', '--store.address', broker.address, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', '--heartbeat.send', '100', '--heartbeat.expect', '100'],
  }).config;
  const gw = await startGateway(config, { log: createLogger({ service: 'gateway-test', level: 'silent' }) });
  cleanups.push(() => gw.stop());

  // @stomp/stompjs is an ES module; this package compiles to CommonJS.
  const { Client } = await import('@stomp/stompjs');
  const got: IMessage[] = [];
  let connected = false;
  let protocol = '';
  const client = new Client({
    webSocketFactory: () => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.wsPort}/`, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
      ws.on('open', () => { protocol = ws.protocol; });
      return ws;
    },
    heartbeatIncoming: 100,
    heartbeatOutgoing: 100,
    reconnectDelay: 0,
    onConnect: () => {
      connected = true;
      client.subscribe('/queue/interop', (m) => { got.push(m); m.ack(); }, { ack: 'client-individual' });
      client.publish({ destination: '/queue/interop', body: 'from stompjs', headers: { 'x-k': 'v:1' } });
    },
  });
  cleanups.push(() => client.deactivate());
  client.activate();
  await checkFor('a message', () => got.length === 1, 5_000);
  assert.ok(connected);
  assert.equal(protocol, 'v12.stomp');
  assert.equal(got[0]!.body, 'from stompjs');
  assert.equal(got[0]!.headers['x-k'], 'v:1');
  const tag = Number(got[0]!.headers.ack);
  await checkFor('the client ack at the store', () => broker.requests('ack').some((a) => a.ack.deliveryTag === tag));
  // Heart-beats both ways keep the connection up past 2x the interval.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(client.connected, true);
  assert.equal(gw.connectionCount, 1);
});
