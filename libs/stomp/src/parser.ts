// Incremental STOMP parser: bytes in, frames out. Pure: no sockets, no timers.
//
// It is a byte-level state machine over each pushed chunk. Nothing is ever re-scanned:
// each byte is looked at once (Buffer.indexOf for LF / NUL from the current offset), a
// partial line or body is kept as a list of slices and joined once when it is complete,
// so a frame split into N chunks costs O(frame size), not O(N * frame size).
import { CLIENT_COMMANDS, SERVER_COMMANDS, SUPPORTED_VERSIONS, getHeader, type StompFrame, type StompVersion } from './frame';
import { StompError } from './errors';
import { negotiateVersion } from './negotiate';

export interface ParserOptions {
  /** Largest frame (command + headers + body) in bytes. Default 4 MiB (ActiveMQ's maxFrameSize is larger; we keep it sane). */
  maxFrameSize?: number;
  /** Most headers in one frame. Default 1000. */
  maxHeaders?: number;
  /** Longest header line (name:value) in bytes. Default 10 KiB. */
  maxHeaderLength?: number;
  /** Version whose escaping rules apply. Starts as '1.0' (CONNECT/CONNECTED are never escaped). */
  version?: StompVersion;
  /** Which side this parser reads: 'server' accepts client commands, 'client' accepts server commands. */
  side: 'server' | 'client';
  /**
   * Switch escaping rules by itself when it reads CONNECT/STOMP (server side: the highest
   * common version of accept-version and `supportedVersions`) or CONNECTED (client side:
   * its `version` header, absent = 1.0). Default true. This matters when a client pipelines
   * frames right behind its CONNECT in the same chunk: they are parsed before the caller
   * could call setVersion(). An explicit setVersion() still wins afterwards.
   */
  autoVersion?: boolean;
  /** Versions used by autoVersion on the server side. Default SUPPORTED_VERSIONS. */
  supportedVersions?: readonly StompVersion[];
}

export type ParseEvent = { type: 'frame'; frame: StompFrame } | { type: 'heartbeat' };

/**
 * Thrown by push(): a StompError (same code and message) that also carries the events
 * completed earlier in the same chunk, so a caller may still act on frames that arrived
 * before the bad one (e.g. a SEND followed by garbage) before it sends ERROR and closes.
 */
export class StompParseError extends StompError {
  readonly events: ParseEvent[];
  constructor(error: StompError, events: ParseEvent[]) {
    super(error.code, error.message, { cause: error.cause });
    this.events = events;
  }
}

export const DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024;
export const DEFAULT_MAX_HEADERS = 1000;
export const DEFAULT_MAX_HEADER_LENGTH = 10 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

const enum State {
  Between,  // between frames: EOLs here are heart-beats
  Command,  // reading the command line
  Headers,  // reading header lines until the blank line
  BodyLen,  // reading exactly content-length bytes
  BodyNul,  // expecting the NUL after a content-length body
  BodyScan, // no content-length: the body ends at the first NUL
  Failed,
}

const CLIENT_SET: ReadonlySet<string> = new Set(CLIENT_COMMANDS);
const SERVER_SET: ReadonlySet<string> = new Set(SERVER_COMMANDS);
// Longest command ("UNSUBSCRIBE"), so garbage (an HTTP request, TLS hello) fails fast.
const MAX_COMMAND_LENGTH = Math.max(...[...CLIENT_COMMANDS, ...SERVER_COMMANDS].map((c) => c.length));

/** The command never escapes headers: STOMP 1.2 keeps CONNECT/CONNECTED 1.0-compatible. */
export function isUnescapedCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'STOMP' || command === 'CONNECTED';
}

/**
 * Undoes header escaping. STOMP 1.1: \n \c \\ ; STOMP 1.2 adds \r; STOMP 1.0 has none.
 * "Undefined escape sequences such as \t MUST be treated as a fatal protocol error."
 */
export function unescapeHeader(s: string, version: StompVersion): string {
  if (version === '1.0') return s;
  let bs = s.indexOf('\\');
  if (bs === -1) return s;
  let out = '';
  let from = 0;
  while (bs !== -1) {
    out += s.slice(from, bs);
    const c = s[bs + 1];
    if (c === 'n') out += '\n';
    else if (c === 'c') out += ':';
    else if (c === '\\') out += '\\';
    else if (c === 'r' && version === '1.2') out += '\r';
    else {
      const seq = c === undefined ? '\\ at the end' : JSON.stringify('\\' + c);
      const defined = version === '1.2' ? '\\r \\n \\c \\\\' : '\\n \\c \\\\';
      throw new StompError('MALFORMED_FRAME',
        `undefined escape sequence ${seq} in header ${JSON.stringify(s)} (STOMP ${version} defines ${defined})`);
    }
    from = bs + 2;
    bs = s.indexOf('\\', from);
  }
  return out + s.slice(from);
}

function quote(line: Buffer, max = 64): string {
  const s = line.toString('utf8', 0, Math.min(line.length, max));
  return JSON.stringify(line.length > max ? s + '...' : s);
}

/**
 * Incremental parser: push() any slice of the byte stream, get the complete frames (and
 * heart-beat EOLs between frames) it finished. Throws StompError on bad input; after a
 * throw the parser is unusable (the connection must be closed).
 */
export class StompParser {
  private readonly maxFrameSize: number;
  private readonly maxHeaders: number;
  private readonly maxHeaderLength: number;
  private readonly commands: ReadonlySet<string>;
  private readonly side: 'server' | 'client';
  private readonly autoVersion: boolean;
  private readonly supportedVersions: readonly StompVersion[];
  private version: StompVersion;

  private state: State = State.Between;
  private failure: StompError | undefined;
  private pendingCR = false;          // a CR seen between frames, waiting for its LF
  private lineParts: Buffer[] = [];   // slices of the current partial line
  private lineLength = 0;
  private frameBytes = 0;             // bytes of the current frame so far (NUL excluded)
  private command = '';
  private headers: Array<[string, string]> = [];
  private contentLength: string | undefined; // first content-length header of this frame
  private bodyParts: Buffer[] = [];
  private bodyLength = 0;
  private bodyRemaining = 0;          // BodyLen: bytes still to read

  constructor(options: ParserOptions) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.maxHeaders = options.maxHeaders ?? DEFAULT_MAX_HEADERS;
    this.maxHeaderLength = options.maxHeaderLength ?? DEFAULT_MAX_HEADER_LENGTH;
    this.version = options.version ?? '1.0';
    this.side = options.side;
    this.commands = options.side === 'server' ? CLIENT_SET : SERVER_SET;
    this.autoVersion = options.autoVersion ?? true;
    this.supportedVersions = options.supportedVersions ?? SUPPORTED_VERSIONS;
  }

  /** Switch escaping rules after version negotiation. */
  setVersion(version: StompVersion): void {
    this.version = version;
  }

  /** The version whose escaping rules apply now. */
  get currentVersion(): StompVersion {
    return this.version;
  }

  /** Bytes buffered for an incomplete frame. */
  get buffered(): number {
    return this.state === State.Between ? (this.pendingCR ? 1 : 0) : this.frameBytes;
  }

  push(chunk: Buffer): ParseEvent[] {
    if (this.failure) throw this.failure;
    const events: ParseEvent[] = [];
    try {
      this.consume(chunk, events);
    } catch (err) {
      this.state = State.Failed;
      this.release();
      const e = err instanceof StompError ? err : new StompError('MALFORMED_FRAME', 'the STOMP parser failed', { cause: err });
      this.failure = e;
      throw new StompParseError(e, events);
    }
    return events;
  }

  private consume(chunk: Buffer, events: ParseEvent[]): void {
    const n = chunk.length;
    // Cached positions of the next NUL / CR at or after the scan offset (-1: none left in
    // this chunk), so each is searched for once per chunk rather than once per line.
    let nulAt = -2;
    let crAt = -2;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case State.Between: {
          // STOMP 1.2: heart-beats are EOLs (LF or CRLF) between frames; a frame's NUL
          // "MAY be followed by EOLs".
          const b = chunk[i]!;
          if (b === LF) { this.pendingCR = false; events.push({ type: 'heartbeat' }); i++; continue; }
          if (this.pendingCR) throw new StompError('MALFORMED_FRAME', 'CR between frames is not followed by LF');
          if (b === CR) { this.pendingCR = true; i++; continue; }
          this.state = State.Command;
          this.frameBytes = 0;
          continue;
        }
        case State.Command:
        case State.Headers: {
          const lf = chunk.indexOf(LF, i);
          const end = lf === -1 ? n : lf;
          if (nulAt !== -1 && nulAt < i) nulAt = chunk.indexOf(NUL, i);
          if (nulAt !== -1 && nulAt < end) {
            throw new StompError('MALFORMED_FRAME',
              this.state === State.Command
                ? 'NUL octet in the command line'
                : `${this.command} frame ended (NUL) before the blank line that ends its headers`);
          }
          this.lineLength += end - i;
          this.frameBytes += end - i + (lf === -1 ? 0 : 1);
          this.checkFrameSize();
          if (lf === -1) {
            // Incomplete line: keep the slice, and enforce limits now so a peer cannot make
            // us buffer an endless line.
            if (end > i) this.lineParts.push(chunk.subarray(i, end));
            this.checkPartialLine(chunk[end - 1]);
            i = n;
            continue;
          }
          let buf = chunk;
          let start = i;
          let stop = end;
          if (this.lineParts.length > 0) {
            // The line began in an earlier chunk: join it once.
            this.lineParts.push(chunk.subarray(i, end));
            buf = Buffer.concat(this.lineParts, this.lineLength);
            start = 0;
            stop = buf.length;
          }
          this.lineParts = [];
          this.lineLength = 0;
          i = lf + 1;
          if (stop > start && buf[stop - 1] === CR) stop--; // CRLF
          let hasCR: boolean;
          if (buf === chunk) {
            if (crAt !== -1 && crAt < start) crAt = chunk.indexOf(CR, start);
            hasCR = crAt !== -1 && crAt < stop;
          } else {
            const at = buf.indexOf(CR);
            hasCR = at !== -1 && at < stop;
          }
          if (this.state === State.Command) this.onCommandLine(buf, start, stop, hasCR);
          else this.onHeaderLine(buf, start, stop, hasCR);
          continue;
        }
        case State.BodyLen: {
          const take = Math.min(this.bodyRemaining, n - i);
          if (take > 0) {
            this.bodyParts.push(chunk.subarray(i, i + take));
            this.bodyLength += take;
            this.bodyRemaining -= take;
            i += take;
          }
          if (this.bodyRemaining === 0) this.state = State.BodyNul;
          continue;
        }
        case State.BodyNul: {
          // STOMP 1.2: with content-length, "the body ... MUST be followed by a NULL octet".
          if (chunk[i] !== NUL) {
            throw new StompError('MALFORMED_FRAME',
              `${this.command} frame body of ${this.bodyLength} bytes (its content-length) is not followed by a NUL octet`);
          }
          i++;
          this.emit(events);
          continue;
        }
        case State.BodyScan: {
          if (nulAt !== -1 && nulAt < i) nulAt = chunk.indexOf(NUL, i);
          const end = nulAt === -1 ? n : nulAt;
          if (end > i) {
            this.bodyParts.push(chunk.subarray(i, end));
            this.bodyLength += end - i;
            this.frameBytes += end - i;
            this.checkFrameSize();
          }
          if (nulAt === -1) { i = n; continue; }
          i = nulAt + 1;
          this.emit(events);
          continue;
        }
        case State.Failed:
          throw this.failure ?? new StompError('MALFORMED_FRAME', 'the STOMP parser failed earlier');
      }
    }
  }

  private checkFrameSize(): void {
    if (this.frameBytes > this.maxFrameSize) {
      throw new StompError('FRAME_TOO_LARGE',
        `${this.command || 'the'} frame is larger than maxFrameSize (${this.maxFrameSize} bytes)`);
    }
  }

  // The +1 leaves room for the CR of a CRLF that has not arrived whole.
  private checkPartialLine(last: number | undefined): void {
    const len = this.lineLength;
    if (this.state === State.Command) {
      if (len > MAX_COMMAND_LENGTH + 1 || (len === MAX_COMMAND_LENGTH + 1 && last !== CR)) {
        throw new StompError('UNKNOWN_COMMAND', `unknown command ${quote(Buffer.concat(this.lineParts))}: ${this.expected()}`);
      }
      return;
    }
    if (len > this.maxHeaderLength + 1 || (len === this.maxHeaderLength + 1 && last !== CR)) {
      throw new StompError('HEADER_TOO_LONG',
        `${this.command} frame has a header line longer than maxHeaderLength (${this.maxHeaderLength} bytes)`);
    }
  }

  private expected(): string {
    return this.side === 'server'
      ? `a STOMP client sends one of ${CLIENT_COMMANDS.join(', ')}`
      : `a STOMP server sends one of ${SERVER_COMMANDS.join(', ')}`;
  }

  private onCommandLine(buf: Buffer, start: number, stop: number, hasCR: boolean): void {
    if (hasCR) throw bareCR(buf, start, stop, 'command line');
    const command = buf.toString('latin1', start, stop); // commands are ASCII; anything else fails the lookup
    if (!this.commands.has(command)) {
      throw new StompError('UNKNOWN_COMMAND', `unknown command ${quote(buf.subarray(start, stop))}: ${this.expected()}`);
    }
    this.command = command;
    this.headers = [];
    this.contentLength = undefined;
    this.state = State.Headers;
  }

  private onHeaderLine(buf: Buffer, start: number, stop: number, hasCR: boolean): void {
    if (stop === start) { this.startBody(); return; }
    if (stop - start > this.maxHeaderLength) {
      throw new StompError('HEADER_TOO_LONG',
        `${this.command} frame has a header line longer than maxHeaderLength (${this.maxHeaderLength} bytes)`);
    }
    // STOMP 1.2: CR only as part of an EOL; a CR inside a value must be escaped as \r.
    if (hasCR) throw bareCR(buf, start, stop, `${this.command} header line`);
    if (this.headers.length >= this.maxHeaders) {
      throw new StompError('TOO_MANY_HEADERS', `${this.command} frame has more than maxHeaders (${this.maxHeaders}) headers`);
    }
    // ':' is ASCII, so the first ':' of the decoded text is the first colon octet.
    const line = buf.toString('utf8', start, stop);
    const colon = line.indexOf(':');
    if (colon === -1) {
      throw new StompError('MALFORMED_FRAME', `${this.command} frame has a header line without ':' (${quote(buf.subarray(start, stop))})`);
    }
    if (colon === 0) {
      throw new StompError('MALFORMED_FRAME', `${this.command} frame has a header with an empty name (${quote(buf.subarray(start, stop))})`);
    }
    // Split at the first colon; the value may hold more colons (1.0, CONNECT passcodes).
    let name = line.slice(0, colon);
    let value = line.slice(colon + 1);
    if (this.version !== '1.0' && !isUnescapedCommand(this.command)) {
      name = unescapeHeader(name, this.version);
      value = unescapeHeader(value, this.version);
    }
    // STOMP 1.2: of repeated headers only the first is used, content-length included.
    if (this.contentLength === undefined && name === 'content-length') this.contentLength = value;
    this.headers.push([name, value]);
  }

  private startBody(): void {
    const cl = this.contentLength;
    this.bodyParts = [];
    this.bodyLength = 0;
    if (cl === undefined) { this.state = State.BodyScan; return; }
    if (!/^[0-9]+$/.test(cl)) {
      throw new StompError('BAD_HEADER_VALUE',
        `${this.command} frame has content-length ${JSON.stringify(cl)}, which is not a non-negative integer`);
    }
    const length = Number(cl);
    // Fail before buffering anything of a body that cannot fit.
    if (this.frameBytes + length > this.maxFrameSize) {
      throw new StompError('FRAME_TOO_LARGE',
        `${this.command} frame has content-length ${cl}, larger than maxFrameSize (${this.maxFrameSize} bytes) allows`);
    }
    this.frameBytes += length;
    this.bodyRemaining = length;
    this.state = length === 0 ? State.BodyNul : State.BodyLen;
  }

  private emit(events: ParseEvent[]): void {
    // Copy the body out of the caller's chunks: a slice would pin (and alias) the whole chunk.
    const parts = this.bodyParts;
    const body = parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, this.bodyLength);
    const frame: StompFrame = { command: this.command, headers: this.headers, body };
    events.push({ type: 'frame', frame });
    if (this.autoVersion) this.followVersion(frame);
    this.release();
    this.state = State.Between;
  }

  private followVersion(frame: StompFrame): void {
    if (this.side === 'server' && (frame.command === 'CONNECT' || frame.command === 'STOMP')) {
      this.version = negotiateVersion(getHeader(frame, 'accept-version'), this.supportedVersions) ?? this.version;
    } else if (this.side === 'client' && frame.command === 'CONNECTED') {
      const v = getHeader(frame, 'version') ?? '1.0';
      if ((SUPPORTED_VERSIONS as readonly string[]).includes(v)) this.version = v as StompVersion;
    }
  }

  private release(): void {
    this.lineParts = [];
    this.lineLength = 0;
    this.bodyParts = [];
    this.bodyLength = 0;
    this.bodyRemaining = 0;
    this.headers = [];
    this.contentLength = undefined;
    this.command = '';
    this.frameBytes = 0;
  }
}

function bareCR(buf: Buffer, start: number, stop: number, where: string): StompError {
  return new StompError('MALFORMED_FRAME', `CR not followed by LF in the ${where} (${quote(buf.subarray(start, stop))})`);
}
