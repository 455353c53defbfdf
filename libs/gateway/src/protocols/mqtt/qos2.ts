// The QoS 2 exactly-once handshakes of one MQTT session, as pure state tables (no I/O):
// what each packet does given the state of its packet identifier, and what the adapter must
// do about it. The adapter (publish.ts, pubrel.ts, acks.ts) performs the actions; where the
// state lives between connections is session-state.ts (docs/architecture.md "MQTT: QoS 2").
//
// Inbound (client -> us, spec 4.3.3 "Method B": store the message, keep the packet id until
// PUBREL):
//
//   state of pid   PUBLISH dup=0          PUBLISH dup=1          PUBREL              store confirms
//   absent         store, -> storing      store, -> storing      PUBCOMP             -
//   storing        (ignored: PUBREC       (ignored)              release after       PUBREC, -> stored
//                   follows the store)                           storing [*]
//   stored         new message: forget    PUBREC (a duplicate:   forget (store),     -
//                  old, store, -> storing not stored again)      then PUBCOMP
//
// [*] a client only sends PUBREL after our PUBREC, which follows the store; kept for safety.
// A PUBLISH with dup=0 on a stored pid can only be a new message ([MQTT-3.3.1-1]: a
// re-delivery carries DUP 1): the old state is stale, e.g. left by a release the store lost.
//
// Outbound (us -> client):
//
//   state of pid   PUBREC                         PUBCOMP             delivery of the same message again
//   published      ack the store (with the        (protocol error:    send again, same pid, dup=1
//                  PUBREL record), -> releasing   ignored)
//   releasing      (ignored: PUBREL follows)      (ignored)           hold it: the transaction decides [*]
//   released       PUBREL again                   forget (store), free pid  ack it
//   absent         PUBREL (frees the client's)    (ignored)           -
//
// [*] A delivery of the same message while the PUBREC's transaction (ack + PUBREL record) is
// out means the session moved to a new master, which refuses that transaction
// (TRANSACTION_ROLLED_BACK): the transaction is then done again with the new delivery. Refused
// WITHOUT a new delivery, the outcome is in doubt (the old master may have committed it): the
// PUBREL record coming back says it committed (-> released), the message coming again says it
// did not (-> the transaction again).

export type InState = 'storing' | 'stored';

export type InAction =
  | { do: 'store' }                 // store the message (and its record); PUBREC when confirmed
  | { do: 'store-replacing' }       // forget the stale state of the pid, then store
  | { do: 'pubrec' }                // a duplicate: PUBREC again, store nothing
  | { do: 'ignore' }
  | { do: 'pubcomp' }               // nothing to forget
  | { do: 'release' }               // forget the stored state, then PUBCOMP
  | { do: 'release-after-store' };  // PUBREL during storing: release once stored

/** Inbound QoS 2 PUBLISH with packet id in state `s` (undefined: absent). */
export function inPublish(s: InState | undefined, dup: boolean): InAction {
  if (s === undefined) return { do: 'store' };
  if (s === 'storing') return { do: 'ignore' };
  return dup ? { do: 'pubrec' } : { do: 'store-replacing' };
}

/** PUBREL for an inbound packet id in state `s`. */
export function inPubrel(s: InState | undefined): InAction {
  if (s === undefined) return { do: 'pubcomp' };
  if (s === 'storing') return { do: 'release-after-store' };
  return { do: 'release' };
}

export type OutState = 'published' | 'releasing' | 'released';

export type OutAction =
  | { do: 'ack-and-release' }   // ack the store's delivery (+ PUBREL record), then PUBREL
  | { do: 'pubrel' }            // PUBREL (again)
  | { do: 'ignore' }
  | { do: 'complete' }          // forget the PUBREL record, free the pid
  | { do: 'resend' }            // PUBLISH again with dup=1 and the same pid
  | { do: 'ack-silently' }      // the client has it: ack the store's copy, send nothing
  | { do: 'hold' };             // keep the new delivery for the PUBREC transaction's outcome

/** PUBREC from the client for an outbound packet id in state `s`. */
export function outPubrec(s: OutState | undefined): OutAction {
  if (s === 'published') return { do: 'ack-and-release' };
  if (s === 'releasing') return { do: 'ignore' };
  return { do: 'pubrel' };
}

/** PUBCOMP from the client. */
export function outPubcomp(s: OutState | undefined): OutAction {
  return s === 'released' ? { do: 'complete' } : { do: 'ignore' };
}

/** The store delivered again (failover, reconnect) a message this pid carries. */
export function outRedelivery(s: OutState | undefined): OutAction {
  if (s === 'published' || s === undefined) return { do: 'resend' };
  return s === 'releasing' ? { do: 'hold' } : { do: 'ack-silently' };
}

/** Packet identifiers 1..65535 in use by one direction of one session [MQTT-2.3.1-1]. */
export class PacketIds {
  private readonly used = new Set<number>();
  private next = 1;

  get size(): number { return this.used.size; }
  has(id: number): boolean { return this.used.has(id); }
  take(id: number): void { this.used.add(id); }
  free(id: number): void { this.used.delete(id); }

  /** A free id, or 0 when all 65535 are in flight. */
  allocate(): number {
    if (this.used.size >= 0xffff) return 0;
    for (;;) {
      const id = this.next;
      this.next = this.next === 0xffff ? 1 : this.next + 1;
      if (!this.used.has(id)) { this.used.add(id); return id; }
    }
  }
}
