// A fake store for coordinator tests: a small gRPC server with Member.Prepare/Assign and
// Admin.Status, registered as an ephemeral member znode with its own ZooKeeper session —
// what a real store does, minus the journal. Its log (lastEpoch, lastPosition) is set by
// the test. It keeps promises like the replication core: nothing below the promised epoch.
import { connect as zkConnect, type ZkClient } from '@hawser/zk';
import { grpc, memberService, adminService, SERVER_OPTIONS } from '@hawser/proto';
import type { PrepareRequest, PrepareReply, AssignRequest, AssignReply, StatusReply } from '@hawser/proto';

export interface FakeStoreOptions {
  id: string;
  group: string;
  zk: string;
  zkPath?: string;
  replicas?: number;
  weight?: number;
  lastEpoch?: number;
  lastPosition?: number;
  sessionTimeoutMs?: number;
  /** refuse Assign(master) (a store that restarted since its promise) */
  refuseMaster?: boolean;
  /** a store whose log diverged below its commit point: role diverged, refuses Prepare and Assign */
  diverged?: boolean;
}

export class FakeStore {
  role = 'candidate';
  epoch = 0;
  promised = 0;
  masterId = '';
  masterAddress = '';
  lastEpoch: number;
  lastPosition: number;
  commitPosition = 0;
  address = '';
  /** Prepare and Assign get no answer while set (a stopped or cut-off store whose znode is still there). */
  unresponsive = false;
  readonly calls: Array<{ method: string; req: unknown }> = [];
  private server: grpc.Server | undefined;
  private zk: ZkClient | undefined;

  constructor(readonly opts: FakeStoreOptions) {
    this.lastEpoch = opts.lastEpoch ?? 0;
    this.lastPosition = opts.lastPosition ?? 0;
    if (opts.diverged) this.role = 'diverged';
  }

  /** Started and not stopped (a stopped one keeps its last role). */
  get running(): boolean { return this.server !== undefined; }

  get memberPath(): string { return `${this.opts.zkPath ?? '/hawser'}/groups/${this.opts.group}/members/${this.opts.id}`; }

  async start(): Promise<this> {
    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(memberService().service, {
      Prepare: (call: grpc.ServerUnaryCall<PrepareRequest, PrepareReply>, cb: grpc.sendUnaryData<PrepareReply>) => {
        const req = call.request;
        this.calls.push({ method: 'Prepare', req });
        if (this.unresponsive) return; // the caller's deadline ends it
        if (this.opts.diverged) {
          cb(null, { promised: false, reason: `store ${this.opts.id} is diverged`, node: this.opts.id, epoch: req.epoch, lastEpoch: this.lastEpoch, lastPosition: this.lastPosition, weight: this.opts.weight ?? 1 });
          return;
        }
        if (req.epoch < this.promised) {
          cb(null, { promised: false, reason: `promised epoch ${this.promised}`, node: this.opts.id, epoch: req.epoch, lastEpoch: this.lastEpoch, lastPosition: this.lastPosition, weight: this.opts.weight ?? 1 });
          return;
        }
        this.promised = req.epoch;
        if (this.role === 'master') this.role = 'candidate';
        cb(null, { promised: true, reason: '', node: this.opts.id, epoch: req.epoch, lastEpoch: this.lastEpoch, lastPosition: this.lastPosition, weight: this.opts.weight ?? 1 });
      },
      Assign: (call: grpc.ServerUnaryCall<AssignRequest, AssignReply>, cb: grpc.sendUnaryData<AssignReply>) => {
        const req = call.request;
        this.calls.push({ method: 'Assign', req });
        if (this.unresponsive) return;
        if (this.opts.diverged) { cb(null, { accepted: false, reason: `store ${this.opts.id} is diverged` }); return; }
        if (req.epoch < this.promised) { cb(null, { accepted: false, reason: `promised epoch ${this.promised}` }); return; }
        if (req.role === 'master' && (this.opts.refuseMaster || req.epoch !== this.promised)) { cb(null, { accepted: false, reason: 'no promise for this epoch in this life' }); return; }
        this.promised = req.epoch;
        this.epoch = req.epoch;
        this.role = req.role;
        this.masterId = req.masterId;
        this.masterAddress = req.masterAddress;
        if (req.role === 'master') this.lastEpoch = req.epoch;
        cb(null, { accepted: true, reason: '' });
      },
    });
    server.addService(adminService().service, {
      Status: (_call: grpc.ServerUnaryCall<unknown, StatusReply>, cb: grpc.sendUnaryData<StatusReply>) => {
        this.calls.push({ method: 'Status', req: {} });
        cb(null, { node: this.opts.id, group: this.opts.group, role: this.role, epoch: this.epoch, commitPosition: this.commitPosition, lastPosition: this.lastPosition, pid: process.pid, address: this.address });
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.server = server;
    this.address = `127.0.0.1:${port}`;
    this.zk = await zkConnect(this.opts.zk, { sessionTimeoutMs: this.opts.sessionTimeoutMs ?? 2000 });
    const path = this.memberPath;
    await this.zk.mkdirp(path.slice(0, path.lastIndexOf('/')));
    await this.zk.create(path, JSON.stringify({
      id: this.opts.id, address: this.address, group: this.opts.group, replicas: this.opts.replicas ?? 3,
      weight: this.opts.weight ?? 1, pid: process.pid, httpPort: 0, role: 'candidate',
    }), 'ephemeral');
    return this;
  }

  /** Stops serving and ends its session: the member znode vanishes at once. */
  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
    await this.zk?.close();
    this.zk = undefined;
  }
}
