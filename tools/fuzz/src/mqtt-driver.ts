// Plays one MqttScript over a real TCP connection, as stomp-driver.ts plays a STOMP one: each
// batch written as its writes (Nagle off, a turn of the event loop between writes), the
// gateway's answers read with mqtt-packet's parser (CONNACK codes and SUBACK refusals counted,
// the ids of PUBLISHes it sent fed back to the generator), the ending the script says, and a
// server that does not close after our DISCONNECT or FIN noted. Bytes the parser cannot read
// are the server's fault (badServerOutput).
import { connect as netConnect } from 'node:net';
import { parser as mqttParser, type Packet } from 'mqtt-packet';
import type { MqttScript } from './mqtt-packets';
import type { DriveOptions, Target } from './stomp-driver';
import { drained, endConnection } from './socket-end';
import { bump, type FuzzCounters } from './stats';

const turn = () => new Promise<void>((r) => setImmediate(r));

/** Runs the script to its end (or until the server closes); never throws. */
export async function driveMqtt(target: Target, script: MqttScript, c: FuzzCounters, o: DriveOptions): Promise<void> {
  const socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  let closed = false;
  let wrote = false;
  let answered = false;
  let closeResolve: () => void = () => undefined;
  const closedP = new Promise<void>((r) => { closeResolve = r; });

  const parser = mqttParser({ protocolVersion: 4 });
  let parserFailed = false;
  let connacked: () => void = () => undefined;
  const connackOrClose = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    connacked = () => { clearTimeout(t); r(); };
    void closedP.then(connacked);
  });
  parser.on('packet', (p: Packet) => {
    switch (p.cmd) {
      case 'connack':
        connacked();
        if (p.returnCode === 0) c.connected++;
        else bump(c.errors, `CONNACK ${p.returnCode}`);
        break;
      case 'publish':
        c.messages++;
        if (p.messageId !== undefined) script.generator.deliveredPublish({ messageId: p.messageId, qos: p.qos });
        break;
      case 'suback':
        c.receipts++;
        for (const g of p.granted) if (g === 0x80) bump(c.errors, 'SUBACK 0x80');
        break;
      case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': case 'unsuback': case 'pingresp':
        c.receipts++;
        break;
      default:
        // A packet a server never sends (CONNECT, SUBSCRIBE, ...): the server's fault.
        c.badServerOutput++;
        if (c.badServerSamples.length < 5) c.badServerSamples.push(`a server sent ${p.cmd.toUpperCase()}`);
    }
  });
  parser.on('error', (e: Error) => {
    if (parserFailed) return;
    parserFailed = true;
    c.badServerOutput++;
    if (c.badServerSamples.length < 5) c.badServerSamples.push(`MQTT from the server does not parse: ${e.message}`);
  });
  socket.on('data', (chunk: Buffer) => {
    answered = true;
    if (!parserFailed) parser.parse(chunk);
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    if (!wrote && !answered && (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET')) c.connectFailures++;
  });
  socket.on('close', () => { closed = true; closeResolve(); });
  await new Promise<void>((r) => { socket.once('connect', () => r()); socket.once('close', () => r()); });
  if (closed) return;
  c.connections++;

  try {
    for (let batch = script.next(); batch && !closed; batch = script.next()) {
      for (let i = 0; i < batch.writes.length && !closed; i++) {
        const w = batch.writes[i]!;
        wrote = true;
        c.bytes += w.length;
        if (!socket.write(w) && !(await drained(socket, o.drainWaitMs))) { socket.destroy(); return; }
        if (batch.writes.length > 1) await turn();
      }
      if (closed) break;
      c.frames += batch.frames; c.valid += batch.valid; c.mutated += batch.mutated; c.garbage += batch.garbage;
      // A CONNECT: its CONNACK first (or the close), up to a bound, so what follows meets a session.
      if (batch.connect) await connackOrClose(200);
      // Let the server's answers (PUBLISH ids, acks) come in now and then.
      if (Math.random() < 0.2) await turn();
    }
  } catch {
    /* EPIPE and friends: the server closed on us, which MQTT tells it to do on bad input */
  }
  if (closed) return;

  // After DISCONNECT [MQTT-3.14.4-1] the server closes; else our FIN (endConnection).
  await endConnection(socket, script.ending, closedP, () => closed, o.closeWaitMs, c);
}
