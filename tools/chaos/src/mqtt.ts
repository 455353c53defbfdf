// MQTT actors of the workload (issue 13 "MQTT QoS 1/2 clients"): mqtt.js clients we did not
// write, through a gateway's MQTT listener or the stores' embedded gateways' (a client lists
// them all and rotates on reconnect), writing the same history events as the STOMP actors.
//
//   MqttPublisher  QoS 1 or 2, persistent session (clean: false, so a QoS 2 exchange cut by a
//                  failover is finished on the next connection): `send`, then `send-result` ok on
//                  PUBACK (QoS 1) / PUBCOMP (QoS 2) — what MQTT calls acknowledged.
//   MqttSubscriber persistent session at QoS 1 or 2: `subscribe` once the SUBACK came (the
//                  session keeps what is published while it is away), `deliver` for every
//                  message mqtt.js hands over (QoS 2: on PUBREL, once) with `redelivered` = the
//                  packet's DUP, then `ack` unconfirmed (mqtt.js sends PUBACK/PUBCOMP itself;
//                  nothing confirms them).
//
// How the checker reads them (history.ts SubscribeEvent.delivery): a QoS 2 subscription is
// exactly-once — a second copy is a violation (`qos2Duplicates`). A QoS 1 subscription is
// at-least-once: copies are allowed and counted apart (`qos1Copies`), not required to carry
// DUP, because MQTT's DUP marks a resent PACKET, not a message delivered before: a message
// that comes again on a new connection goes out as a new PUBLISH with a new packet id, and a
// QoS 1 receiver must treat every PUBLISH as a new publication whatever its DUP [MQTT-4.3.2].
//
// No `arrived` on their `deliver` (history.ts): mqtt.js calls the handler as the packet is read
// (QoS 2: its PUBREL), with no buffer the application takes from later, so arrival is `t`; and
// their acks are `unconfirmed`, so the checker's copies-after-an-ack test (which needs a
// confirmed ack) does not apply to MQTT subscriptions (qos2Duplicates / qos1Copies do).
import mqtt from 'mqtt';
import type { History, Outcome } from './history';
import type { Actor, Path } from './workload';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** mqtt://host:port URIs of a path -> mqtt.js servers (it rotates over them on reconnect). */
function servers(p: Path): Array<{ host: string; port: number; protocol: 'mqtt' }> {
  return p.uris.map((u) => {
    const url = new URL(u);
    return { host: url.hostname, port: Number(url.port), protocol: 'mqtt' as const };
  });
}

function clientOptions(p: Path, clientId: string): mqtt.IClientOptions {
  return {
    servers: servers(p), clientId, clean: false, protocolVersion: 4, keepalive: 10,
    reconnectPeriod: 100, connectTimeout: 5000, resubscribe: false,
  };
}

export interface MqttPublisherOptions {
  name: string;
  path: Path;
  /** The MQTT topic name. */
  topic: string;
  /** The history's destination for it (matches the subscribers'). */
  dest: string;
  qos: 1 | 2;
  rate: number;
  window?: number;
}

/** QoS 1/2 PUBLISHes, paced; send-result ok on PUBACK/PUBCOMP. */
export class MqttPublisher implements Actor {
  private client: mqtt.MqttClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;

  constructor(readonly o: MqttPublisherOptions, private readonly h: History) {}

  get name(): string { return this.o.name; }

  async start(): Promise<void> {
    this.client = await mqtt.connectAsync('', clientOptions(this.o.path, `${this.o.name}-${process.pid}-${Date.now().toString(36)}`));
    this.client.on('error', () => undefined);
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const c = this.client!;
    const window = this.o.window ?? 4;
    const t0 = Date.now();
    while (this.running) {
      while (this.running && this.pending.size >= window) await Promise.race(this.pending);
      if (!this.running) break;
      const seq = this.seq++;
      const id = `${this.o.name}-${seq}`;
      this.h.add({ type: 'send', id, producer: this.o.name, dest: this.o.dest, seq, path: this.o.path.name, group: this.o.path.group });
      // mqtt.js keeps an unacknowledged QoS 1/2 PUBLISH of a persistent session and sends it
      // again (DUP) after a reconnect: the promise settles on its PUBACK/PUBCOMP, whenever.
      const p = c.publishAsync(this.o.topic, id, { qos: this.o.qos }).then(
        () => { this.h.add({ type: 'send-result', id, outcome: 'ok' }); },
        (e: Error) => { this.h.add({ type: 'send-result', id, outcome: 'unknown' as Outcome, error: `${e.name}: ${e.message}` }); },
      );
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
      while (this.running && this.seq > (this.o.rate * (Date.now() - t0)) / 1000) await sleep(5);
    }
  }

  async stop(deadlineMs = 60_000): Promise<void> {
    this.running = false;
    await Promise.race([Promise.all([this.loop, ...this.pending]), sleep(deadlineMs)]);
    await this.client?.endAsync(true).catch(() => undefined);
  }
}

export interface MqttSubscriberOptions {
  name: string;
  path: Path;
  /** Topic filter subscribed. */
  topic: string;
  dest: string;
  qos: 1 | 2;
  /** The persistent session's client id (stable across the run's reconnects). */
  clientId: string;
}

/** A persistent-session subscriber; every message mqtt.js hands over is a `deliver`. */
export class MqttSubscriber implements Actor {
  private client: mqtt.MqttClient | undefined;
  lastDelivery = 0;
  reconnects = 0;

  constructor(readonly o: MqttSubscriberOptions, private readonly h: History) {}

  get name(): string { return this.o.name; }
  get sub(): string { return `mqtt:${this.o.clientId}`; }

  async start(): Promise<void> {
    for (;;) {
      try {
        this.client = await mqtt.connectAsync('', clientOptions(this.o.path, this.o.clientId));
        break;
      } catch { await sleep(200); }
    }
    const c = this.client;
    c.on('error', () => undefined);
    c.on('reconnect', () => { this.reconnects++; });
    c.on('message', (_topic, payload, packet) => {
      this.lastDelivery = Date.now();
      const id = payload.toString();
      this.h.add({ type: 'deliver', sub: this.sub, consumer: this.o.name, id, redelivered: packet.dup === true });
      // mqtt.js answers PUBACK (QoS 1) / PUBCOMP (QoS 2) itself once this handler returns: unconfirmed.
      this.h.add({ type: 'ack', sub: this.sub, consumer: this.o.name, id, outcome: 'unconfirmed' });
    });
    // The session keeps the subscription across reconnects (clean: false): subscribed once.
    await c.subscribeAsync(this.o.topic, { qos: this.o.qos });
    this.h.add({ type: 'subscribe', sub: this.sub, dest: this.o.dest, consumer: this.o.name, delivery: this.o.qos === 2 ? 'exactly-once' : 'at-least-once' });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }
}
