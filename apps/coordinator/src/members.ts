// gRPC links from the coordinator to stores (Member.Prepare/Assign, Admin.Status) and to
// other coordinators (Topology.ReportMasterLost forwarded to the leader). One client per
// address and service, every call with a deadline; errors are named and carry the cause.
import { grpc, memberService, adminService, topologyService, channelCredentials, CHANNEL_OPTIONS, FRESH_CHANNEL_OPTIONS } from '@hawser/proto';
import type { PrepareRequest, PrepareReply, AssignRequest, AssignReply, StatusReply, MasterLost, ReportReply } from '@hawser/proto';

/** A gRPC call to a store or coordinator failed or timed out. */
export class MemberCallError extends Error {
  readonly code = 'MEMBER_CALL_FAILED';
  constructor(readonly method: string, readonly address: string, readonly grpcCode: number | undefined, options?: { cause?: unknown }) {
    super(`${method} to ${address} failed: ${(options?.cause as Error | undefined)?.message ?? 'unknown error'}`, options);
    this.name = 'MemberCallError';
  }
}

type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

export class Links {
  private readonly clients = new Map<string, grpc.Client>();

  private client(kind: 'member' | 'admin' | 'topology', address: string): grpc.Client {
    const key = `${kind} ${address}`;
    let c = this.clients.get(key);
    // A channel that failed (the store was down) fails every call at once until grpc-js's
    // reconnect backoff (up to 1 s) ends, even after the store came back: a Prepare to a store
    // restarted on that address failed and cost the election a retry (0.5-1.2 s in failover
    // benchmarks). A new channel connects at once; the callers' own retries pace it.
    let replaced = false;
    if (c && c.getChannel().getConnectivityState(false) === grpc.connectivityState.TRANSIENT_FAILURE) {
      c.close();
      this.clients.delete(key);
      c = undefined;
      replaced = true;
    }
    if (!c) {
      const Ctor = kind === 'member' ? memberService() : kind === 'admin' ? adminService() : topologyService();
      c = new Ctor(address, channelCredentials(), replaced ? FRESH_CHANNEL_OPTIONS : CHANNEL_OPTIONS);
      this.clients.set(key, c);
    }
    return c;
  }

  private call<Req, Res>(kind: 'member' | 'admin' | 'topology', method: string, address: string, req: Req, timeoutMs: number): Promise<Res> {
    const c = this.client(kind, address) as unknown as Record<string, Unary<Req, Res>>;
    return new Promise((resolve, reject) => {
      c[method].call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new MemberCallError(method, address, err.code, { cause: err }));
        else resolve(res);
      });
    });
  }

  prepare(address: string, req: PrepareRequest, timeoutMs: number): Promise<PrepareReply> {
    return this.call('member', 'Prepare', address, req, timeoutMs);
  }

  assign(address: string, req: AssignRequest, timeoutMs: number): Promise<AssignReply> {
    return this.call('member', 'Assign', address, req, timeoutMs);
  }

  status(address: string, timeoutMs: number): Promise<StatusReply> {
    return this.call('admin', 'Status', address, {}, timeoutMs);
  }

  reportMasterLost(address: string, req: MasterLost, timeoutMs: number): Promise<ReportReply> {
    return this.call('topology', 'ReportMasterLost', address, req, timeoutMs);
  }

  /** Closes clients of addresses no longer in use. */
  retain(addresses: Set<string>): void {
    for (const [key, c] of this.clients) {
      const address = key.slice(key.indexOf(' ') + 1);
      if (!addresses.has(address)) { c.close(); this.clients.delete(key); }
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
