// Version and heart-beat negotiation (STOMP 1.1+ CONNECT/CONNECTED). Pure functions.
import { SUPPORTED_VERSIONS, type StompVersion } from './frame';
import { StompError } from './errors';

const VERSION_TOKEN = /^\d+\.\d+$/;

/**
 * Splits an `accept-version` value ("1.0,1.1,2.0") into its tokens. Throws
 * StompError('BAD_HEADER_VALUE') when a token is not a version number.
 */
export function parseAcceptVersion(acceptVersion: string): string[] {
  const tokens = acceptVersion.split(',').map((t) => t.trim());
  for (const t of tokens) {
    if (!VERSION_TOKEN.test(t)) {
      throw new StompError('BAD_HEADER_VALUE',
        `accept-version header ${JSON.stringify(acceptVersion)} is not a comma-separated list of versions such as "1.0,1.1,1.2"`);
    }
  }
  return tokens;
}

/**
 * Highest common version from an `accept-version` header (absent: '1.0'). Undefined if none.
 * STOMP 1.1: "If the accept-version header is missing, it means that the client only
 * supports version 1.0 of the protocol." Unknown tokens (e.g. "2.0") are ignored; a
 * malformed list is lenient here (validateClientFrame rejects it).
 */
export function negotiateVersion(acceptVersion: string | undefined, supported: readonly StompVersion[] = SUPPORTED_VERSIONS): StompVersion | undefined {
  if (acceptVersion === undefined) return supported.includes('1.0') ? '1.0' : undefined;
  const offered = new Set(acceptVersion.split(',').map((t) => t.trim()));
  let best: StompVersion | undefined;
  for (const v of supported) {
    if (offered.has(v) && (best === undefined || Number(v) > Number(best))) best = v;
  }
  return best;
}

export interface HeartBeat { /** ms between beats we send (0: none) */ send: number; /** ms within which we expect to receive something (0: don't check) */ expect: number }

const HEART_BEAT = /^\s*(\d+)\s*,\s*(\d+)\s*$/;

/**
 * Parses a `heart-beat` header "cx,cy" into two non-negative integers (absent: [0, 0]).
 * Throws StompError('BAD_HEADER_VALUE') on anything else.
 */
export function parseHeartBeat(value: string | undefined): [number, number] {
  if (value === undefined) return [0, 0];
  const m = HEART_BEAT.exec(value);
  const a = m ? Number(m[1]) : NaN;
  const b = m ? Number(m[2]) : NaN;
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) {
    throw new StompError('BAD_HEADER_VALUE',
      `heart-beat header ${JSON.stringify(value)} is not "<cx>,<cy>" (two non-negative integers in milliseconds, e.g. "10000,10000")`);
  }
  return [a, b];
}

/**
 * STOMP 1.1 heart-beating. `theirs` is the peer's `heart-beat` header "cx,cy"; `ours` is
 * what we offer [sx, sy]. Returns how often we must send and how often we expect data.
 * Throws StompError('BAD_HEADER_VALUE') on a malformed header.
 *
 * STOMP 1.2: "if sx is 0 (we cannot send) or cy is 0 (they do not want to receive) there
 * will be no heart-beats from us, otherwise every max(sx, cy) ms" — and symmetrically for
 * what we expect: max(sy, cx) unless either is 0. The rule is the same on both sides, so
 * this works for the client and for the server. Callers add their own grace margin to
 * `expect` before declaring the peer dead.
 */
export function negotiateHeartBeat(theirs: string | undefined, ours: [number, number]): HeartBeat {
  const [cx, cy] = parseHeartBeat(theirs);
  const [sx, sy] = ours;
  return {
    send: sx === 0 || cy === 0 ? 0 : Math.max(sx, cy),
    expect: sy === 0 || cx === 0 ? 0 : Math.max(sy, cx),
  };
}
