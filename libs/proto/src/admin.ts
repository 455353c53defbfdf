// TypeScript shapes of proto/hawser/admin.proto as loaded with LOADER_OPTIONS.

export interface DestinationsRequest { prefix: string }
/** The core's own shape (libs/broker): what Admin.Destinations serves. */
export type { DestinationInfo } from '@hawser/broker';
import type { DestinationInfo, Message } from '@hawser/broker';
export interface DestinationsReply { destinations: DestinationInfo[] }
export interface PurgeRequest { destination: string }
export interface PurgeReply { removed: number }
export interface BrowseRequest { destination: string; limit: number; selector: string }
/** A message as Admin.Browse lists it: the message and how often its delivery failed. */
export interface BrowseItem extends Message { deliveryCount: number }
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
  /** The gateway embedded in this node: its listener ports (0 or absent when it has none). */
  stompPort?: number;
  wsPort?: number;
}
export interface SendRequest { destination: string; headers: Record<string, string>; body: Buffer; persistent: boolean; login: string; groups: string[] }
export interface SendReply { id: string }
export interface MoveRequest { from: string; to: string; limit: number; login: string; groups: string[] }
export interface MoveReply { moved: number; skipped: number }
export interface DeleteRequest { destination: string }
export interface SessionsRequest { destination: string }
/** The core's own shape (libs/broker) with how the session reached the store (the store adds `via`, `peer`). */
export type { SessionSubscriptionInfo } from '@hawser/broker';
import type { SessionInfo as CoreSessionInfo } from '@hawser/broker';
export interface SessionInfo extends CoreSessionInfo {
  /** local (this node's embedded gateway, in-process), sessions (Broker.Sessions), session (Broker.Session), admin. */
  via: string;
  /** The gRPC peer's address ('' in-process). */
  peer: string;
}
export interface SessionsReply { sessions: SessionInfo[] }
export interface DeleteReply { removed: number }
