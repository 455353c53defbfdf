// TypeScript shapes of proto/hawser/coordination.proto and replication.proto as loaded
// with LOADER_OPTIONS.

// --- coordination.proto: Member (served by stores) ---
export interface PrepareRequest { group: string; epoch: number; coordinator: string }
export interface PrepareReply {
  promised: boolean;
  reason: string;
  node: string;
  epoch: number;
  lastEpoch: number;
  lastPosition: number;
  weight: number;
}
export interface MemberAddress { id: string; address: string }
export interface AssignRequest {
  group: string;
  epoch: number;
  role: 'master' | 'slave' | string;
  masterId: string;
  masterAddress: string;
  members: MemberAddress[];
}
export interface AssignReply { accepted: boolean; reason: string }

// --- coordination.proto: Topology (served by coordinators) ---
export interface WatchRequest { group: string }
export interface MasterLost { group: string; reporter: string; epoch: number; masterId: string }
export interface ReportReply { accepted: boolean }
export interface MemberInfo {
  id: string;
  address: string;
  role: string;
  epoch: number;
  commitPosition: number;
  lastPosition: number;
  lagEntries: number;
  lagSeconds: number;
  pid: number;
  weight: number;
  httpPort: number;
}
export interface GroupInfo {
  name: string;
  state: 'ok' | 'electing' | 'no-quorum' | string;
  epoch: number;
  masterId: string;
  masterAddress: string;
  replicas: number;
  members: MemberInfo[];
  message: string;
}
export interface CoordinatorInfo { id: string; address: string; leader: boolean; pid: number; httpPort: number }
export interface GatewayInfo {
  id: string; group: string; stompPort: number; wsPort: number; httpPort: number; pid: number; host: string;
  /** The store node hosting this gateway (embedded); absent or '' for a separate gateway process. */
  node?: string;
}
/** A bridge process (its lock znode <zkPath>/bridges/<link>/lock-<seq>); active = lowest sequence of its link. */
export interface BridgeInfo { id: string; link: string; active: boolean; pid: number; host: string; httpPort: number; groups?: string[] }
export interface TopologySnapshot {
  version: number;
  groups: GroupInfo[];
  coordinators: CoordinatorInfo[];
  gateways: GatewayInfo[];
  /** Absent from coordinators older than the bridge milestone (and from older literals). */
  bridges?: BridgeInfo[];
}

// --- replication.proto ---
export interface ReplicationHello { group: string; from: string; epoch: number; incarnation: number }
export interface WireEntry { epoch: number; position: number; data: Buffer; noop: boolean }
export interface WireAppendEntries {
  from: string; epoch: number; prevEpoch: number; prevPosition: number; entries: WireEntry[]; commitPosition: number;
}
export interface WireAppendAck { from: string; epoch: number; incarnation: number; received: number; persisted: number }
export interface WireAppendReject { from: string; epoch: number; incarnation: number; hintEpoch: number; hintPosition: number }
export interface WireStaleEpoch { from: string; epoch: number }
export interface WireSnapshotOffer { from: string; epoch: number; snapshotEpoch: number; position: number }
export type ReplicationMessage =
  | { kind: 'append'; append: WireAppendEntries }
  | { kind: 'ack'; ack: WireAppendAck }
  | { kind: 'reject'; reject: WireAppendReject }
  | { kind: 'stale'; stale: WireStaleEpoch }
  | { kind: 'snapshot'; snapshot: WireSnapshotOffer };
export interface ReplicationBatch { hello?: ReplicationHello | null; messages: ReplicationMessage[] }
export interface SnapshotRequest { group: string; from: string; epoch: number; position: number }
export interface KeyValue { key: Buffer; value: Buffer }
export interface SnapshotChunk { epoch: number; position: number; items: KeyValue[]; last: boolean }
