// The frame generator: well-formed-looking STOMP frames of every client command (1.0, 1.1,
// 1.2), with random headers, values and bodies, driven by one connection's PRNG. It keeps a
// little state (subscriptions, transactions, the ack ids the server sent) so that most frames
// make sense and the connection gets past its first frame — and then sometimes does not
// (unknown ids, missing or repeated headers, bad escapes, wrong content-length). Pure.
import type { Prng } from './prng';
import { str, value, number, destination, body, selector, CLIENT_ID_POOL, durableTopic, DURABLE_TOPIC_POOL } from './values';

export type Version = '1.0' | '1.1' | '1.2';
export type Header = [name: string, value: string];

export interface GeneratedFrame {
  command: string;
  bytes: Buffer;
}

/** What the server told this connection, fed back by the driver (MESSAGE ack ids). */
export interface Delivery {
  ack?: string;
  messageId: string;
  subscription: string;
}

const ESCAPES_11: Record<string, string> = { '\\': '\\\\', '\n': '\\n', ':': '\\c' };
const ESCAPES_12: Record<string, string> = { ...ESCAPES_11, '\r': '\\r' };

/** STOMP 1.1/1.2 header escaping (1.0 and CONNECT/STOMP frames: none). */
export function escapeValue(s: string, version: Version | 'none'): string {
  if (version === '1.0' || version === 'none') return s;
  const table = version === '1.2' ? ESCAPES_12 : ESCAPES_11;
  return s.replace(version === '1.2' ? /[\\\n:\r]/g : /[\\\n:]/g, (c) => table[c]!);
}

export interface EncodeOptions {
  /** Escaping rules; 'none' writes values raw (CONNECT/STOMP, or on purpose). */
  escape: Version | 'none';
  eol?: '\n' | '\r\n';
  /** 'exact': a correct content-length; 'none': no header; a string: that value. */
  contentLength?: 'exact' | 'none' | string;
}

/** Builds the bytes of one frame. Values are escaped per `escape`; nothing is validated. */
export function encode(command: string, headers: readonly Header[], payload: Buffer, o: EncodeOptions): Buffer {
  const eol = o.eol ?? '\n';
  let head = command + eol;
  for (const [k, v] of headers) head += `${escapeValue(k, o.escape)}:${escapeValue(v, o.escape)}${eol}`;
  const cl = o.contentLength ?? 'exact';
  if (cl === 'exact') head += `content-length:${payload.length}${eol}`;
  else if (cl !== 'none') head += `content-length:${cl}${eol}`;
  head += eol;
  return Buffer.concat([Buffer.from(head, 'utf8'), payload, Buffer.from([0])]);
}

const SUPPORTED: readonly Version[] = ['1.0', '1.1', '1.2'];

/** The version a gateway picks for an accept-version header (absent: 1.0), or undefined. */
export function negotiated(acceptVersion: string | undefined): Version | undefined {
  if (acceptVersion === undefined) return '1.0';
  const offered = acceptVersion.split(',').map((v) => v.trim());
  for (const v of [...SUPPORTED].reverse()) if (offered.includes(v)) return v;
  return undefined;
}

export interface GeneratorOptions {
  login?: string;
  passcode?: string;
  /** The clock behind `expires` values (default Date.now; a spec fixes it to compare bytes). */
  now?: () => number;
}

export class FrameGenerator {
  /** The version this connection negotiated (as far as the generator can tell). */
  version: Version = '1.2';
  private readonly subs: string[] = [];
  private readonly txs: string[] = [];
  private readonly deliveries: Delivery[] = [];
  private clientId: string | undefined;
  private seq = 0;

  constructor(private readonly rng: Prng, private readonly opts: GeneratorOptions = {}) {}

  /** The driver saw a MESSAGE: its ids become ACK/NACK candidates. */
  delivered(d: Delivery): void {
    this.deliveries.push(d);
    if (this.deliveries.length > 64) this.deliveries.shift();
  }

  private receipt(h: Header[], p = 0.25): void {
    if (this.rng.chance(p)) h.push(['receipt', this.rng.chance(0.9) ? `r-${++this.seq}` : value(this.rng)]);
  }

  private extraHeaders(h: Header[]): void {
    const rng = this.rng;
    const n = rng.weighted([[60, 0], [25, 1], [10, 3], [4, 12], [1, rng.range(500, 1500)]] as const);
    for (let i = 0; i < n; i++) h.push([rng.chance(0.8) ? `x-${str(rng, 12)}` : str(rng, 16), value(rng)]);
  }

  /** Drops one header (a required one, often) or repeats one, now and then. */
  private perturb(h: Header[]): void {
    const rng = this.rng;
    if (h.length > 0 && rng.chance(0.04)) h.splice(rng.int(h.length), 1);
    if (h.length > 0 && rng.chance(0.04)) {
      const [k] = h[rng.int(h.length)]!;
      h.splice(rng.int(h.length + 1), 0, [k, value(rng)]);
    }
    if (rng.chance(0.01)) h.reverse();
  }

  private finish(command: string, h: Header[], payload: Buffer = Buffer.alloc(0), escape: Version | 'none' = this.version): GeneratedFrame {
    const rng = this.rng;
    this.extraHeaders(h);
    this.perturb(h);
    const hasNul = payload.includes(0);
    const contentLength = rng.weighted<EncodeOptions['contentLength']>([
      [70, 'exact'],
      [hasNul ? 2 : 25, 'none'],
      [2, number(rng)],
      [1, String(payload.length + rng.range(-3, 3))],
    ]);
    const eol = this.version === '1.2' && rng.chance(0.1) ? '\r\n' : '\n';
    const esc = rng.chance(0.03) ? 'none' : escape;
    return { command, bytes: encode(command, h, payload, { escape: esc, eol, contentLength }) };
  }

  /** CONNECT or STOMP with a random accept-version, heart-beat, login and client-id. */
  connect(): GeneratedFrame {
    const rng = this.rng;
    const h: Header[] = [];
    const av = rng.weighted<string | undefined>([
      [30, '1.2'], [12, '1.1'], [8, undefined], [6, '1.0'], [30, '1.0,1.1,1.2'], [8, '1.1,1.2'],
      [2, rng.pick(['2.0', '', '1.2,', ' 1.2 ', '1.3', 'abc', '1.0,,1.1', '1'.repeat(300)])],
    ]);
    if (av !== undefined) h.push(['accept-version', av]);
    this.version = negotiated(av) ?? '1.2';
    if (rng.chance(0.9)) h.push(['host', rng.chance(0.8) ? 'localhost' : value(rng)]);
    if (rng.chance(0.5)) {
      h.push(['heart-beat', rng.weighted([
        [50, '0,0'], [15, '10000,10000'], [10, '0,5000'], [5, '1000,1000'], [10, `${number(rng)},${number(rng)}`], [5, value(rng)],
      ] as const)]);
    }
    if (this.opts.login !== undefined && rng.chance(0.9)) {
      h.push(['login', this.opts.login], ['passcode', this.opts.passcode ?? '']);
    } else if (rng.chance(0.3)) {
      h.push(['login', value(rng)], ['passcode', value(rng)]);
    }
    if (rng.chance(0.25)) {
      this.clientId = rng.chance(0.7) ? `fuzz-client-${rng.int(CLIENT_ID_POOL)}` : value(rng);
      h.push(['client-id', this.clientId]);
    }
    this.perturb(h);
    const command = rng.chance(0.8) ? 'CONNECT' : 'STOMP';
    const eol = rng.chance(0.05) ? '\r\n' : '\n';
    return { command, bytes: encode(command, h, Buffer.alloc(0), { escape: 'none', eol, contentLength: rng.chance(0.9) ? 'none' : 'exact' }) };
  }

  /** The next frame of a connected client: any command, mostly sensible. */
  next(): GeneratedFrame {
    const rng = this.rng;
    const kind = rng.weighted([
      [36, 'SEND'], [12, 'SUBSCRIBE'], [5, 'UNSUBSCRIBE'], [8, 'ACK'], [3, 'NACK'], [5, 'BEGIN'], [3, 'COMMIT'], [3, 'ABORT'],
      [4, 'EOL'], [0.5, 'CONNECT'], [0.3, 'STOMP'], [0.5, 'UNKNOWN'], [0.4, 'SERVER'], [0.3, 'LOWER'],
    ] as const);
    switch (kind) {
      case 'SEND': return this.send();
      case 'SUBSCRIBE': return this.subscribe();
      case 'UNSUBSCRIBE': return this.unsubscribe();
      case 'ACK':
      case 'NACK': return this.ack(kind);
      case 'BEGIN': return this.begin();
      case 'COMMIT':
      case 'ABORT': return this.endTx(kind);
      case 'EOL': return { command: 'EOL', bytes: Buffer.from(rng.pick(['\n', '\r\n', '\n\n\n', '\r\n\r\n'])) };
      case 'CONNECT':
      case 'STOMP': {
        const f = this.connect();
        return f;
      }
      case 'UNKNOWN': return this.finish(rng.pick(['FROBNICATE', 'SENDX', 'GET / HTTP/1.1', 'PING', '', ' SEND', 'SEND ', str(rng, 12)]), [['destination', destination(rng)]]);
      case 'SERVER': return this.finish(rng.pick(['MESSAGE', 'CONNECTED', 'RECEIPT', 'ERROR']), [['destination', destination(rng)], ['message-id', value(rng)]]);
      case 'LOWER': return this.finish(rng.pick(['send', 'Subscribe', 'ack', 'connect', 'disconnect']), [['destination', destination(rng)]], Buffer.from('x'));
    }
  }

  /** DISCONNECT, usually with a receipt. */
  disconnect(): GeneratedFrame {
    const h: Header[] = [];
    this.receipt(h, 0.7);
    return this.finish('DISCONNECT', h);
  }

  private send(): GeneratedFrame {
    const rng = this.rng;
    const h: Header[] = [['destination', destination(rng)]];
    if (rng.chance(0.5)) h.push(['persistent', rng.weighted([[70, 'true'], [20, 'false'], [10, value(rng)]] as const)]);
    if (rng.chance(0.3)) h.push(['content-type', rng.pick(['text/plain', 'application/json', 'application/octet-stream', 'text/plain;charset=utf-8', value(rng)])]);
    if (rng.chance(0.1)) h.push(['priority', rng.chance(0.5) ? String(rng.range(0, 9)) : number(rng)]);
    if (rng.chance(0.08)) h.push(['expires', rng.weighted([[40, String((this.opts.now ?? Date.now)() + rng.range(-60_000, 600_000))], [30, number(rng)], [30, '0']] as const)]);
    if (rng.chance(0.08)) h.push(['message-id', rng.chance(0.8) ? `fuzz-${rng.u32()}` : value(rng)]);
    if (rng.chance(0.05)) h.push(['message-id', 'm'.repeat(rng.range(200, 400))]);
    if (rng.chance(0.05)) h.push(['correlation-id', value(rng)]);
    if (rng.chance(0.05)) h.push(['reply-to', destination(rng)]);
    if (rng.chance(0.05)) h.push(['type', value(rng)]);
    if (rng.chance(0.03)) h.push([rng.pick(['AMQ_SCHEDULED_DELAY', 'JMSXGroupID', 'JMSXGroupSeq', 'activemq.prefetchSize', 'ack', 'subscription', 'redelivered', 'JMSDeliveryMode']), number(rng)]);
    if (this.txs.length > 0 && rng.chance(0.2)) h.push(['transaction', rng.pick(this.txs)]);
    else if (rng.chance(0.02)) h.push(['transaction', value(rng)]);
    this.receipt(h);
    return this.finish('SEND', h, body(rng));
  }

  private subscribe(): GeneratedFrame {
    const rng = this.rng;
    const durable = this.clientId !== undefined && rng.chance(0.1);
    const dest = durable ? durableTopic(rng.int(DURABLE_TOPIC_POOL)) : destination(rng);
    const id = rng.weighted<string>([[85, `s-${++this.seq}`], [8, this.subs.length > 0 ? rng.pick(this.subs) : 'dup'], [7, value(rng)]]);
    const h: Header[] = [['destination', dest]];
    // STOMP 1.0 may leave out the id (the destination names the subscription).
    if (this.version !== '1.0' || rng.chance(0.7)) h.push(['id', id]);
    if (rng.chance(0.8)) h.push(['ack', rng.weighted([[45, 'auto'], [20, 'client'], [30, 'client-individual'], [5, value(rng)]] as const)]);
    if (rng.chance(0.3)) h.push(['selector', selector(rng)]);
    if (rng.chance(0.25)) h.push(['activemq.prefetchSize', rng.chance(0.6) ? String(rng.range(1, 100)) : number(rng)]);
    if (durable) h.push([rng.chance(0.8) ? 'activemq.subscriptionName' : 'durable-subscription-name', `d${rng.int(4)}`]);
    else if (rng.chance(0.01)) h.push(['activemq.subscriptionName', value(rng)]);
    if (rng.chance(0.05)) h.push(['activemq.noLocal', rng.pick(['true', 'false', value(rng)])]);
    this.receipt(h, 0.35);
    this.subs.push(id);
    return this.finish('SUBSCRIBE', h);
  }

  private unsubscribe(): GeneratedFrame {
    const rng = this.rng;
    const h: Header[] = [];
    if (this.subs.length > 0 && rng.chance(0.8)) h.push(['id', this.subs.splice(rng.int(this.subs.length), 1)[0]!]);
    else h.push(['id', value(rng)]);
    if (rng.chance(0.05)) h.push(['activemq.subscriptionName', `d${rng.int(4)}`]);
    if (this.version === '1.0' && rng.chance(0.3)) h.push(['destination', destination(rng)]);
    this.receipt(h);
    return this.finish('UNSUBSCRIBE', h);
  }

  private ack(command: 'ACK' | 'NACK'): GeneratedFrame {
    const rng = this.rng;
    const h: Header[] = [];
    // The same draws whether or not the server sent MESSAGEs, so a seed replays the same
    // frames; only the ack ids taken from the server's MESSAGEs differ from run to run.
    const useReal = rng.chance(0.75);
    const pick = rng.u32();
    const randomId = rng.pick([value(rng), String(rng.u32()), '0', '-1']);
    const randomSub = value(rng);
    const d = useReal && this.deliveries.length > 0 ? this.deliveries.splice(pick % this.deliveries.length, 1)[0]! : undefined;
    const as12 = this.version === '1.2' || rng.chance(0.1);
    const withSub = this.version === '1.1' || rng.chance(0.3);
    if (as12) {
      h.push(['id', d ? (d.ack ?? d.messageId) : randomId]);
    } else {
      h.push(['message-id', d ? d.messageId : randomId]);
      if (withSub) h.push(['subscription', d ? d.subscription : randomSub]);
    }
    if (this.txs.length > 0 && rng.chance(0.2)) h.push(['transaction', rng.pick(this.txs)]);
    this.receipt(h);
    return this.finish(command, h);
  }

  private begin(): GeneratedFrame {
    const rng = this.rng;
    const tx = rng.chance(0.9) ? `tx-${++this.seq}` : value(rng);
    this.txs.push(tx);
    const h: Header[] = [['transaction', tx]];
    this.receipt(h);
    return this.finish('BEGIN', h);
  }

  private endTx(command: 'COMMIT' | 'ABORT'): GeneratedFrame {
    const rng = this.rng;
    const tx = this.txs.length > 0 && rng.chance(0.8) ? this.txs.splice(rng.int(this.txs.length), 1)[0]! : value(rng);
    const h: Header[] = [['transaction', tx]];
    this.receipt(h);
    return this.finish(command, h);
  }
}
