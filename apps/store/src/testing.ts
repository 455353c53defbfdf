// Test support for the store: a Broker.Session client over real gRPC, and polling helpers.
import { brokerService, CHANNEL_OPTIONS, grpc, type BrowseItem, type Message, type SessionEvent, type SessionEvents, type SessionRequest, type SessionRequests, type Subscribe } from '@hawser/proto';

/** Polls `fn` until it returns a truthy value or the deadline passes (no bare sleeps). */
export async function checkFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

type Req = SessionRequest extends infer R ? (R extends SessionRequest ? Omit<R, 'requestId'> & { requestId?: number } : never) : never;

export class TestSession {
  readonly events: SessionEvent[] = [];
  private readonly receiptIds = new Set<number>();
  /** false: do not keep events (benchmarks); receipts are still counted. */
  keepEvents = true;
  ended = false;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<SessionRequests, SessionEvents>;
  private nextId = 1;

  constructor(address: string) {
    const Broker = brokerService();
    this.client = new Broker(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    this.call = (this.client as unknown as { Session(): grpc.ClientDuplexStream<SessionRequests, SessionEvents> }).Session();
    this.call.on('data', (b: SessionEvents) => {
      for (const e of b.items) {
        if (e.kind === 'receipt') this.receiptIds.add(e.receipt.requestId);
        if (this.keepEvents) this.events.push(e);
      }
    });
    this.call.on('end', () => { this.ended = true; });
    this.call.on('error', () => { this.ended = true; });
  }

  request(...reqs: Req[]): number[] {
    const items = reqs.map((r) => ({ ...r, requestId: r.requestId ?? this.nextId++ }));
    this.call.write({ items: items as unknown as SessionRequest[] });
    return items.map((i) => i.requestId);
  }

  /** `network`: open as a bridge's session (Open.network). */
  async open(clientId = '', network = false): Promise<void> {
    this.request({ kind: 'open', open: { connectionId: 'test', clientId, login: '', gateway: 'test', network }, requestId: 0 } as Req);
    await checkFor('opened', () => this.events.some((e) => e.kind === 'opened'));
  }

  send(destination: string, body: string, m: Partial<Message> = {}): number {
    const message: Message = { id: m.id ?? '', destination, headers: {}, body: Buffer.from(body), persistent: true, priority: 4, expires: 0, timestamp: 0, ...m };
    return this.request({ kind: 'send', send: { message, transaction: '' } } as Req)[0]!;
  }

  subscribe(subscriptionId: string, destination: string, s: Partial<Subscribe> = {}): number {
    return this.request({ kind: 'subscribe', subscribe: { subscriptionId, destination, ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 0, selector: '', durableName: '', noLocal: false, ...s } } as Req)[0]!;
  }

  ack(deliveryTag: number): number {
    return this.request({ kind: 'ack', ack: { deliveryTag, transaction: '' } } as Req)[0]!;
  }

  receipts(): Set<number> {
    return this.receiptIds;
  }

  deliveries() {
    return this.events.flatMap((e) => (e.kind === 'delivery' ? [e.delivery] : []));
  }

  async receipted(ids: number[], timeoutMs = 10_000): Promise<void> {
    await checkFor(`receipts ${ids.length}`, () => { const r = this.receipts(); return ids.every((i) => r.has(i)); }, timeoutMs);
  }

  close(): void {
    try { this.call.end(); } catch { /* already gone */ }
    this.client.close();
  }
}

/** Unary call helper for Member and Admin services in tests. */
export function unary<Req, Res>(ctor: grpc.ServiceClientConstructor, address: string, method: string, req: Req, timeoutMs = 5000): Promise<Res> {
  const client = new ctor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return new Promise<Res>((resolve, reject) => {
    (client as unknown as Record<string, (r: Req, o: grpc.CallOptions, cb: (e: Error | null, r: Res) => void) => void>)[method]!(req, { deadline: Date.now() + timeoutMs }, (e, r) => {
      client.close();
      if (e) reject(e); else resolve(r);
    });
  });
}

/** An Admin service client (adminService()) whose methods are called by name. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type AdminClient = grpc.Client & Record<string, Function>;

/** One unary Admin call by method name. */
export function adminCall<T>(admin: AdminClient, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) => admin[method]!.call(admin, req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
}

/** Admin.Browse of a destination: every item, up to 100. */
export function adminBrowse(admin: AdminClient, destination: string): Promise<BrowseItem[]> {
  return new Promise((resolve, reject) => {
    const out: BrowseItem[] = [];
    const s = (admin as unknown as { Browse(r: object): grpc.ClientReadableStream<BrowseItem> }).Browse({ destination, limit: 100, selector: '' });
    s.on('data', (m: BrowseItem) => out.push(m));
    s.on('error', reject);
    s.on('end', () => resolve(out));
  });
}
