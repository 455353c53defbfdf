// hawser activemq: the broker's config and command line (pure), and the MQTT readiness probe
// against small loopback servers (one answering CONNACK, one refusing, a closed port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { activemqXml, javaArgs, mqttAnswers, MQTT_CLIENT_JAR } from './activemq';

test('activemq.xml: STOMP only by default; --mqtt-port adds the MQTT connector; --tcp-no-delay sets it on both', () => {
  const plain = activemqXml({ dir: '/tmp/amq', stompPort: 61700, heap: '1g' });
  assert.match(plain, /<transportConnector name="stomp" uri="stomp:\/\/127\.0\.0\.1:61700\?transport\.closeAsync=false"\/>/);
  assert.doesNotMatch(plain, /mqtt|tcpNoDelay/);
  assert.ok(!javaArgs({ dir: '/tmp/amq', stompPort: 61700, heap: '1g' }).some((a) => a.startsWith('-Dactivemq.classpath')));
  const o = { dir: '/tmp/amq', stompPort: 61700, mqttPort: 1884, heap: '1g' };
  assert.match(activemqXml(o), /<transportConnector name="mqtt" uri="mqtt:\/\/127\.0\.0\.1:1884"\/>/);
  assert.ok(javaArgs(o).includes(`-Dactivemq.classpath=${MQTT_CLIENT_JAR}`), 'the MQTT codec jar on the class path');
  const fast = activemqXml({ ...o, tcpNoDelay: true });
  assert.match(fast, /uri="stomp:\/\/127\.0\.0\.1:61700\?transport\.closeAsync=false&amp;transport\.tcpNoDelay=true"/); // & escaped in XML
  assert.match(fast, /uri="mqtt:\/\/127\.0\.0\.1:1884\?transport\.tcpNoDelay=true"/);
});

async function listen(onData: (s: import('node:net').Socket, d: Buffer) => void): Promise<{ server: Server; port: number; got: Buffer[] }> {
  const got: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d) => { got.push(d); onData(s, d); }).on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as import('node:net').AddressInfo).port, got };
}

test('the MQTT probe: a CONNACK 0 is up; a refusal, a close or a closed port is not', async () => {
  const ok = await listen((s) => s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])));
  const refused = await listen((s) => s.write(Buffer.from([0x20, 0x02, 0x00, 0x05])));
  const closer = await listen((s) => s.destroy());
  try {
    assert.equal(await mqttAnswers(ok.port, 2000), true);
    const connect = ok.got[0]!;
    assert.equal(connect[0], 0x10, 'a CONNECT packet');
    assert.equal(connect.subarray(4, 8).toString(), 'MQTT');
    assert.equal(connect[8], 4, 'protocol level 4 (3.1.1)');
    assert.equal(await mqttAnswers(refused.port, 2000), false);
    assert.equal(await mqttAnswers(closer.port, 2000), false);
    const port = closer.port;
    await new Promise<void>((r) => closer.server.close(() => r()));
    assert.equal(await mqttAnswers(port, 2000), false);
  } finally {
    for (const s of [ok, refused, closer]) s.server.close();
  }
});
