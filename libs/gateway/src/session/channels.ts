// Every channel of one gateway: gRPC channels (one Broker.Sessions stream per store address,
// shared by all sessions) and, when the gateway lives in a store node, the in-process one.
import type { ChannelHandlers, SessionChannel } from './channel';
import { GrpcChannels } from './grpc-channel';
import { LocalChannel, type LocalBroker } from './local-channel';

/** Picks the channel for a master address: in-process for this node's own, gRPC otherwise. */
export class Channels {
  private readonly grpc = new GrpcChannels();
  constructor(private readonly local?: LocalBroker, private readonly onOpen?: (channel: 'local' | 'grpc') => void) {}

  /** Whether sessions to `address` stay in this process. */
  isLocal(address: string): boolean { return this.local !== undefined && address === this.local.address; }

  open(address: string, handlers: ChannelHandlers): SessionChannel {
    if (this.local && address === this.local.address) {
      this.onOpen?.('local');
      return new LocalChannel(this.local, handlers);
    }
    this.onOpen?.('grpc');
    return this.grpc.open(address, handlers);
  }

  /** Connects ahead to the group's members (the topology's addresses), this node's own excepted. */
  warm(addresses: readonly string[]): void {
    for (const a of addresses) if (a && !this.isLocal(a)) this.grpc.warm(a);
  }

  /** False when the way to `address` is known to be failing (readiness). */
  healthy(address: string): boolean {
    if (this.isLocal(address)) return this.local!.serving;
    return this.grpc.healthy(address);
  }

  close(): void { this.grpc.close(); }
}
