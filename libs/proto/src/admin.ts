// TypeScript shapes of proto/hawser/admin.proto as loaded with LOADER_OPTIONS.

export interface DestinationsRequest { prefix: string }
export interface DestinationInfo {
  name: string;
  depth: number;
  inflight: number;
  consumers: number;
  enqueued: number;
  dequeued: number;
  localConsumers?: number;
  networkConsumers?: number;
}
export interface DestinationsReply { destinations: DestinationInfo[] }
export interface PurgeRequest { destination: string }
export interface PurgeReply { removed: number }
export interface BrowseRequest { destination: string; limit: number; selector: string }
export interface BrowseItem {
  id: string;
  destination: string;
  headers: Record<string, string>;
  body: Buffer;
  persistent: boolean;
  priority: number;
  expires: number;
  timestamp: number;
  deliveryCount: number;
}
export type StatusRequest = Record<string, never>;
export interface StatusReply {
  node: string;
  group: string;
  role: string;
  epoch: number;
  commitPosition: number;
  lastPosition: number;
  pid: number;
  address: string;
}
