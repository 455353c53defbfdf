// Puts the hand-written serializers into the service definitions proto-loader made, for the hot
// stream methods only (Broker.Session, Broker.Sessions, Replication.Stream); every other
// method keeps proto-loader's. HAWSER_WIRE_CODEC=loader turns them off (A/B benchmarks, or a
// suspected codec bug): the bytes on the wire are compatible either way, so a process with
// either setting talks to one with the other.
import type * as protoLoader from '@grpc/proto-loader';
import {
  decodeMuxEvents, decodeMuxRequests, decodeSessionEvents, decodeSessionRequests,
  encodeMuxEvents, encodeMuxRequests, encodeSessionEvents, encodeSessionRequests,
} from './broker';
import { decodeReplicationBatch, encodeReplicationBatch } from './replication';

export * from './broker';
export * from './replication';

/** Whether the hot methods use the hand-written serializers (default) or proto-loader's. */
export function handWrittenCodec(): boolean {
  return (process.env.HAWSER_WIRE_CODEC ?? 'hand') !== 'loader';
}

type Codec = Pick<protoLoader.MethodDefinition<unknown, unknown>, 'requestSerialize' | 'requestDeserialize' | 'responseSerialize' | 'responseDeserialize'>;

/** service name -> method -> the serializers (request and response of each stream). */
export const HOT_METHODS: Record<string, Record<string, Codec>> = {
  'hawser.broker.v1.Broker': {
    Session: {
      requestSerialize: encodeSessionRequests as Codec['requestSerialize'],
      requestDeserialize: decodeSessionRequests,
      responseSerialize: encodeSessionEvents as Codec['responseSerialize'],
      responseDeserialize: decodeSessionEvents,
    },
    Sessions: {
      requestSerialize: encodeMuxRequests as Codec['requestSerialize'],
      requestDeserialize: decodeMuxRequests,
      responseSerialize: encodeMuxEvents as Codec['responseSerialize'],
      responseDeserialize: decodeMuxEvents,
    },
  },
  'hawser.replication.v1.Replication': {
    Stream: {
      requestSerialize: encodeReplicationBatch as Codec['requestSerialize'],
      requestDeserialize: decodeReplicationBatch,
      responseSerialize: encodeReplicationBatch as Codec['responseSerialize'],
      responseDeserialize: decodeReplicationBatch,
    },
  },
};

/** Replaces the serializers of the hot methods found in `def` (in place). */
export function useHandWrittenCodec(def: protoLoader.PackageDefinition): void {
  for (const [service, methods] of Object.entries(HOT_METHODS)) {
    const s = def[service] as protoLoader.ServiceDefinition | undefined;
    if (!s) continue;
    for (const [name, codec] of Object.entries(methods)) {
      const m = s[name];
      if (!m) throw new Error(`${service}.${name} is not in proto/: the hand-written codec names a method that is gone`);
      Object.assign(m, codec);
    }
  }
}
