// TO BE IMPLEMENTED (helper): version and heart-beat negotiation (STOMP 1.1+ CONNECT/CONNECTED).
import type { StompVersion } from './frame';

/** Highest common version from an `accept-version` header (absent: '1.0'). Undefined if none. */
export declare function negotiateVersion(acceptVersion: string | undefined, supported?: readonly StompVersion[]): StompVersion | undefined;

export interface HeartBeat { /** ms between beats we send (0: none) */ send: number; /** ms within which we expect to receive something (0: don't check) */ expect: number }

/**
 * STOMP 1.1 heart-beating. `theirs` is the peer's `heart-beat` header "cx,cy"; `ours` is
 * what we offer [sx, sy]. Returns how often we must send and how often we expect data.
 * Throws StompError('BAD_HEADER_VALUE') on a malformed header.
 */
export declare function negotiateHeartBeat(theirs: string | undefined, ours: [number, number]): HeartBeat;
