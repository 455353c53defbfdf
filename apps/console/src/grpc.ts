// The console's gRPC calls: the stores' Admin service (proto/hawser/admin.proto) and the
// coordinators' Topology (coordination.proto), with the process's credentials (an admin-role
// certificate with tls.*). One client per address, kept while the address is in the topology.
import {
  adminService, CHANNEL_OPTIONS, channelCredentials, grpc,
  type BrowseItem, type BrowseRequest, type DeleteReply, type DestinationsReply, type MoveReply, type MoveRequest, type PurgeReply, type SendReply, type SendRequest, type StatusReply,
} from '@hawser/proto';

/** A failed call, with what the page should show. */
export class StoreCallError extends Error {
  constructor(readonly code: string, message: string, readonly grpcCode?: number) {
    super(message);
    this.name = 'StoreCallError';
  }
  /** HTTP status for the console's API. */
  get status(): number {
    switch (this.grpcCode) {
      case grpc.status.PERMISSION_DENIED: return 403;
      case grpc.status.NOT_FOUND: return 404;
      case grpc.status.INVALID_ARGUMENT: return 400;
      case grpc.status.FAILED_PRECONDITION: return 409;
      case grpc.status.UNAVAILABLE: case grpc.status.DEADLINE_EXCEEDED: return 503;
      default: return 502;
    }
  }
}

function details(err: grpc.ServiceError): string {
  const text = (err.details || err.message).replace(/\s*\n\s*/g, ' ').trim();
  const m = /Last error: (?:Error: )?(.*?)(?:\.\s*Resolution note:.*)?$/.exec(text);
  return (m?.[1] ?? text).trim() || text;
}

export class AdminClients {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(private readonly timeoutMs: number) {}

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      const Admin = adminService();
      c = new Admin(address, channelCredentials(), { ...CHANNEL_OPTIONS, 'grpc.enable_retries': 0 });
      this.clients.set(address, c);
    }
    return c;
  }

  /** Closes the clients of addresses no longer in `keep`. */
  retain(keep: Set<string>): void {
    for (const [a, c] of this.clients) if (!keep.has(a)) { c.close(); this.clients.delete(a); }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private unary<Req, Res>(address: string, method: string, req: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    const client = this.client(address);
    const fn = (client as unknown as Record<string, Function>)[method]!;
    return new Promise<Res>((resolve, reject) => {
      fn.call(client, req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => {
        if (err) reject(new StoreCallError(grpc.status[err.code] ?? String(err.code), `${method} at ${address}: ${details(err)}`, err.code));
        else resolve(res);
      });
    });
  }

  status(address: string): Promise<StatusReply> { return this.unary(address, 'Status', {}); }

  async destinations(address: string): Promise<DestinationsReply> {
    const r = await this.unary<{ prefix: string }, DestinationsReply>(address, 'Destinations', { prefix: '' });
    return { destinations: r.destinations ?? [] };
  }

  purge(address: string, destination: string): Promise<PurgeReply> { return this.unary(address, 'Purge', { destination }); }

  send(address: string, req: SendRequest): Promise<SendReply> { return this.unary(address, 'Send', req); }

  delete(address: string, destination: string): Promise<DeleteReply> { return this.unary(address, 'Delete', { destination }); }

  move(address: string, req: MoveRequest): Promise<MoveReply> { return this.unary(address, 'Move', req, Math.max(this.timeoutMs, 30_000)); }

  browse(address: string, req: BrowseRequest): Promise<BrowseItem[]> {
    const client = this.client(address) as unknown as { Browse(r: BrowseRequest, o: grpc.CallOptions): grpc.ClientReadableStream<BrowseItem> };
    return new Promise((resolve, reject) => {
      const out: BrowseItem[] = [];
      const call = client.Browse(req, { deadline: Date.now() + this.timeoutMs });
      call.on('data', (m: BrowseItem) => out.push(m));
      call.on('error', (err: grpc.ServiceError) => reject(new StoreCallError(grpc.status[err.code] ?? String(err.code), `Browse at ${address}: ${details(err)}`, err.code)));
      call.on('end', () => resolve(out));
    });
  }
}
