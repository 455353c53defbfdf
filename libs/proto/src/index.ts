// Loads the contracts in proto/ with @grpc/proto-loader. Every service and client in
// Hawser gets its definitions from here, with the same loader options, so the shapes in
// broker.ts/admin.ts hold everywhere: camelCase fields, uint64 as number, enums as
// strings, `kind` naming the member of a oneof that is set.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { handWrittenCodec, useHandWrittenCodec } from './wire';

export * from './broker';
export * from './admin';
export * from './coordination';
export { decodeWireMessage, encodeWireMessage, handWrittenCodec, messageBytesOf, rememberMessageBytes } from './wire';
export { grpc };

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The directory holding the .proto files (the repository's proto/). */
export function protoDir(): string {
  const fromEnv = process.env.HAWSER_PROTO_DIR;
  if (fromEnv) return fromEnv;
  // dist/index.js -> libs/proto -> repository root
  let dir = resolve(__dirname);
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'hawser');
    if (existsSync(candidate)) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('cannot find the proto/ directory; set HAWSER_PROTO_DIR');
}

const cache = new Map<string, grpc.GrpcObject>();

/** Loads one file of proto/hawser (e.g. 'broker.proto') as a grpc-js package object. */
export function loadProto(file: string): grpc.GrpcObject {
  let pkg = cache.get(file);
  if (!pkg) {
    const dir = protoDir();
    const def = protoLoader.loadSync(join(dir, 'hawser', file), { ...LOADER_OPTIONS, includeDirs: [dir] });
    // The hot stream methods get hand-written serializers (./wire, docs/architecture.md).
    if (handWrittenCodec()) useHandWrittenCodec(def);
    pkg = grpc.loadPackageDefinition(def);
    cache.set(file, pkg);
  }
  return pkg;
}

function pick(pkg: grpc.GrpcObject, path: string): grpc.ServiceClientConstructor {
  let node: unknown = pkg;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`service ${path} not found in proto/`);
  return node as grpc.ServiceClientConstructor;
}

export function brokerService(): grpc.ServiceClientConstructor {
  return pick(loadProto('broker.proto'), 'hawser.broker.v1.Broker');
}

export function adminService(): grpc.ServiceClientConstructor {
  return pick(loadProto('admin.proto'), 'hawser.admin.v1.Admin');
}

export function memberService(): grpc.ServiceClientConstructor {
  return pick(loadProto('coordination.proto'), 'hawser.coordination.v1.Member');
}

export function topologyService(): grpc.ServiceClientConstructor {
  return pick(loadProto('coordination.proto'), 'hawser.coordination.v1.Topology');
}

export function replicationService(): grpc.ServiceClientConstructor {
  return pick(loadProto('replication.proto'), 'hawser.replication.v1.Replication');
}

/**
 * Largest gRPC message between services. A client message may be 64 MiB (the gateway's
 * limits.maxFrameSize, ActiveMQ's users send such), and one gRPC message carries a whole
 * journal entry: a transaction's messages together. Batches of several requests, events or
 * entries are cut at 8 MiB by their senders (grpc-channel.ts, store.ts, replication's
 * maxBatchBytes), so this bounds one item, not a batch (docs/benchmarks.md, large messages).
 */
export const MAX_GRPC_MESSAGE_BYTES = 512 * 1024 * 1024;
/** Senders cut batches (of requests, events, journal entries) at this many bytes of message bodies. */
export const BATCH_BYTES = 8 * 1024 * 1024;

/** Channel options shared by every client: keepalives so a dead peer is noticed in seconds. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  // A store that was down and came back (restart on the same port) may be elected master a
  // moment later: grpc-js's default reconnect backoff (1 s doubling to 120 s) would keep
  // failing calls to it with UNAVAILABLE long after it listens again. Failover time is
  // measured in hundreds of milliseconds, so retry fast and cap low.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // HTTP/2 flow control: the default 64 KiB window is smaller than one window of 64
  // deliveries of 1 KiB, so the sender would stall for a WINDOW_UPDATE round trip.
  'grpc-node.flow_control_window': 16 * 1024 * 1024,
};

/**
 * CHANNEL_OPTIONS for a channel that replaces one that failed: its own subchannels. grpc-js
 * shares subchannels between channels to the same address and keeps an unused one for a while,
 * so a new channel would inherit the failed one's reconnect backoff.
 */
export const FRESH_CHANNEL_OPTIONS: grpc.ChannelOptions = { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 };

export const SERVER_OPTIONS: grpc.ServerOptions = {
  // The server pings every connection: one whose peer is gone is closed within ~25 s. Without
  // it, a connection ended by an HTTP/2 protocol error stays open on our side for good (Node's
  // http2 server sends GOAWAY but keeps the socket: an fd and a session per such connection;
  // found by tools/fuzz, docs/security.md "Fuzzing").
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
};
export { TopologyWatch, type TopologyWatchOptions, type WatchLog } from './topology-watch';
export * from './credentials';
export * from './rpc-roles';
export * from './certs';
