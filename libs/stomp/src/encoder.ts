// STOMP encoder: frame -> bytes. Pure.
import type { StompFrame, StompVersion } from './frame';
import { StompError } from './errors';
import { isUnescapedCommand } from './parser';

/**
 * Escapes a header name or value. STOMP 1.1: \ -> \\, LF -> \n, ':' -> \c; STOMP 1.2 also
 * CR -> \r. STOMP 1.0 has no escaping. Throws StompError('BAD_HEADER_VALUE') when the text
 * cannot be represented in that version (LF in 1.0, CR before 1.2), rather than write a
 * frame the peer would split or reject.
 */
export function escapeHeader(s: string, version: StompVersion, what = 'header'): string {
  return escaped(s, version, what);
}

const NEEDS_ESCAPE = /[\\\n:\r]/;
const ESCAPABLE = /[\\\n:\r]/g;

/**
 * What a header error names: `what` itself, or with `name` (a frame's command as `what`) "CMD
 * header name" (null) or "CMD header NAME". Built only when it throws: frames are encoded per message.
 */
function label(what: string, name: string | null | undefined): string {
  return name === undefined ? what : name === null ? `${what} header name` : `${what} header ${name}`;
}

function escaped(s: string, version: StompVersion, what: string, name?: string | null): string {
  if (version === '1.0') {
    checkRaw(s, version, false, what, name);
    return s;
  }
  if (!NEEDS_ESCAPE.test(s)) return s;
  if (version === '1.1' && s.includes('\r')) {
    throw new StompError('BAD_HEADER_VALUE', `${label(what, name)} ${JSON.stringify(s)} contains a CR, which STOMP 1.1 cannot escape`);
  }
  return s.replace(ESCAPABLE, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === ':' ? '\\c' : '\\r'));
}

// Unescaped text (STOMP 1.0 frames, CONNECT/CONNECTED in every version): no LF or CR
// anywhere, and no ':' in a name (the parser splits at the first colon).
function checkRaw(s: string, version: StompVersion, isName: boolean, what: string, name?: string | null): void {
  if (/[\r\n]/.test(s) || (isName && s.includes(':'))) {
    throw new StompError('BAD_HEADER_VALUE',
      `${label(what, name)} ${JSON.stringify(s)} contains ${isName ? 'a colon, ' : ''}a CR or LF, which cannot be sent unescaped (STOMP ${version})`);
  }
}

/**
 * Encodes a frame for `version` (header escaping per version; CONNECT/CONNECTED never
 * escaped). Adds content-length when the body is non-empty and none is given.
 * Throws StompError('BAD_HEADER_VALUE') for a header the version cannot carry or a given
 * content-length that is not the body's length.
 */
export function encodeFrame(frame: StompFrame, version: StompVersion): Buffer {
  const { command, headers, body } = frame;
  if (!/^[A-Z]+$/.test(command)) {
    throw new StompError('UNKNOWN_COMMAND', `cannot encode a frame with command ${JSON.stringify(command)}`);
  }
  const raw = isUnescapedCommand(command);
  let head = command + '\n';
  let hasLength = false;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name === 'content-length' && !hasLength) {
      // STOMP 1.2: the first occurrence is the one the peer uses; it must be the truth.
      hasLength = true;
      if (value !== String(body.length)) {
        throw new StompError('BAD_HEADER_VALUE',
          `${command} frame has content-length ${JSON.stringify(value)} but a body of ${body.length} bytes`);
      }
    }
    if (name.length === 0) throw new StompError('BAD_HEADER_VALUE', `${command} frame has a header with an empty name`);
    if (raw || version === '1.0') {
      checkRaw(name, version, true, command, null);
      checkRaw(value, version, false, command, name);
      head += name + ':' + value + '\n';
    } else {
      head += escaped(name, version, command, null) + ':' + escaped(value, version, command, name) + '\n';
    }
  }
  // STOMP 1.2: "frames SHOULD include a content-length header" when they have a body, and a
  // body with NUL octets needs one.
  if (body.length > 0 && !hasLength) head += 'content-length:' + body.length + '\n';
  head += '\n';
  const headLength = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLength + body.length + 1);
  out.write(head, 0, headLength, 'utf8');
  body.copy(out, headLength);
  out[out.length - 1] = 0;
  return out;
}

/** The heart-beat byte sequence (a single EOL). */
export const HEARTBEAT: Buffer = Buffer.from('\n');
