// Per-command header rules of STOMP 1.0 / 1.1 / 1.2. Pure. The messages are written to be
// the `message` header of an ERROR frame: they say what was wrong and what the spec wants.
import { getHeader, type StompFrame, type StompVersion } from './frame';
import { StompError } from './errors';
import { parseAcceptVersion, parseHeartBeat } from './negotiate';

function need(frame: StompFrame, name: string, why = ''): string {
  const v = getHeader(frame, name);
  if (v === undefined) {
    throw new StompError('MISSING_HEADER', `${frame.command} frame has no ${name} header${why}`);
  }
  if (v === '') {
    throw new StompError('BAD_HEADER_VALUE', `${frame.command} frame has an empty ${name} header${why}`);
  }
  return v;
}

function nonEmptyIfPresent(frame: StompFrame, name: string): void {
  if (getHeader(frame, name) === '') {
    throw new StompError('BAD_HEADER_VALUE', `${frame.command} frame has an empty ${name} header`);
  }
}

function checkHeartBeat(frame: StompFrame): void {
  const hb = getHeader(frame, 'heart-beat');
  if (hb === undefined) return;
  try {
    parseHeartBeat(hb);
  } catch (err) {
    throw new StompError('BAD_HEADER_VALUE',
      `${frame.command} frame has heart-beat header ${JSON.stringify(hb)}, which is not "<cx>,<cy>" (two non-negative integers in milliseconds, e.g. "10000,10000")`,
      { cause: err });
  }
}

// ActiveMQ's extension: client-individual on STOMP 1.0 too (its clients send it on 1.0 connections).
const ACK_MODES_10 = ['auto', 'client', 'client-individual'];
const ACK_MODES_11 = ['auto', 'client', 'client-individual'];

/**
 * Checks a frame a client sent against the header rules of `version` (the negotiated one;
 * for CONNECT/STOMP, whatever the caller has so far). Throws StompError with code
 * MISSING_HEADER, BAD_HEADER_VALUE or UNKNOWN_COMMAND.
 */
export function validateClientFrame(frame: StompFrame, version: StompVersion): void {
  const tag = ` (required in STOMP ${version})`;
  switch (frame.command) {
    case 'CONNECT':
    case 'STOMP': {
      // STOMP 1.2 requires accept-version and host, but 1.0 clients send neither and many
      // 1.1+ clients omit host: be lenient, reject only malformed values.
      const av = getHeader(frame, 'accept-version');
      if (av !== undefined) {
        try { parseAcceptVersion(av); } catch (err) {
          throw new StompError('BAD_HEADER_VALUE',
            `${frame.command} frame has accept-version header ${JSON.stringify(av)}, which is not a comma-separated list of versions such as "1.0,1.1,1.2"`,
            { cause: err });
        }
      }
      checkHeartBeat(frame);
      return;
    }
    case 'SEND':
      need(frame, 'destination');
      nonEmptyIfPresent(frame, 'transaction');
      return;
    case 'SUBSCRIBE': {
      need(frame, 'destination');
      // STOMP 1.1: "the id header MUST be included"; 1.0 made it optional.
      if (version !== '1.0') need(frame, 'id', tag);
      const ack = getHeader(frame, 'ack');
      if (ack !== undefined) {
        const modes = version === '1.0' ? ACK_MODES_10 : ACK_MODES_11;
        if (!modes.includes(ack)) {
          throw new StompError('BAD_HEADER_VALUE',
            `SUBSCRIBE frame has ack header ${JSON.stringify(ack)}; STOMP ${version} allows ${modes.join(', ')}`);
        }
      }
      return;
    }
    case 'UNSUBSCRIBE':
      if (version === '1.0') {
        // STOMP 1.0: unsubscribe by id or, failing that, by destination.
        if (getHeader(frame, 'id') === undefined && getHeader(frame, 'destination') === undefined) {
          throw new StompError('MISSING_HEADER', 'UNSUBSCRIBE frame has neither an id nor a destination header (STOMP 1.0 needs one)');
        }
        nonEmptyIfPresent(frame, 'id');
        nonEmptyIfPresent(frame, 'destination');
      } else {
        need(frame, 'id', tag);
      }
      return;
    case 'NACK':
      if (version === '1.0') {
        throw new StompError('UNKNOWN_COMMAND', 'NACK is not a STOMP 1.0 command (it exists from STOMP 1.1 on)');
      }
      checkAck(frame, version, tag);
      return;
    case 'ACK':
      checkAck(frame, version, tag);
      return;
    case 'BEGIN':
    case 'COMMIT':
    case 'ABORT':
      need(frame, 'transaction');
      return;
    case 'DISCONNECT':
      nonEmptyIfPresent(frame, 'receipt');
      return;
    default:
      throw new StompError('UNKNOWN_COMMAND', `unknown client command ${JSON.stringify(frame.command)}`);
  }
}

function checkAck(frame: StompFrame, version: StompVersion, tag: string): void {
  if (version === '1.2') {
    // STOMP 1.2: ACK/NACK carry the `id` from the MESSAGE's ack header.
    need(frame, 'id', ' (STOMP 1.2 acknowledges with the id from the MESSAGE\'s ack header)');
  } else {
    need(frame, 'message-id');
    if (version === '1.1') need(frame, 'subscription', tag);
  }
  nonEmptyIfPresent(frame, 'transaction');
}

/** Checks a frame a server sent against the header rules of `version`. Same errors. */
export function validateServerFrame(frame: StompFrame, version: StompVersion): void {
  const tag = ` (required in STOMP ${version})`;
  switch (frame.command) {
    case 'CONNECTED': {
      const v = getHeader(frame, 'version');
      if (version !== '1.0' && v === undefined) need(frame, 'version', tag);
      if (v !== undefined && !/^\d+\.\d+$/.test(v)) {
        throw new StompError('BAD_HEADER_VALUE', `CONNECTED frame has version header ${JSON.stringify(v)}, which is not a version such as "1.2"`);
      }
      checkHeartBeat(frame);
      return;
    }
    case 'MESSAGE':
      need(frame, 'destination');
      need(frame, 'message-id');
      // STOMP 1.1: MESSAGE "MUST include a subscription header"; 1.0 did not have it.
      if (version !== '1.0') need(frame, 'subscription', tag);
      // STOMP 1.2: an ack header, when present, is what the client echoes as ACK's id.
      nonEmptyIfPresent(frame, 'ack');
      return;
    case 'RECEIPT':
      need(frame, 'receipt-id');
      return;
    case 'ERROR':
      return;
    default:
      throw new StompError('UNKNOWN_COMMAND', `unknown server command ${JSON.stringify(frame.command)}`);
  }
}
