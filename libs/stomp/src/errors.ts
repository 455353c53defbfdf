// Errors of the STOMP codec. Each has a stable code; the gateway turns it into an ERROR
// frame whose `message` header is the error's message.

export type StompErrorCode =
  | 'MALFORMED_FRAME'      // bad syntax: missing colon, bad escape, no NUL after content-length body, ...
  | 'UNKNOWN_COMMAND'
  | 'FRAME_TOO_LARGE'      // over maxFrameSize
  | 'TOO_MANY_HEADERS'     // over maxHeaders
  | 'HEADER_TOO_LONG'      // a header line over maxHeaderLength
  | 'MISSING_HEADER'       // a required header is absent (e.g. SEND without destination)
  | 'BAD_HEADER_VALUE'     // e.g. a content-length that is not a number
  | 'UNSUPPORTED_VERSION'; // no common version in accept-version

export class StompError extends Error {
  readonly code: StompErrorCode;
  constructor(code: StompErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StompError';
    this.code = code;
  }
}
