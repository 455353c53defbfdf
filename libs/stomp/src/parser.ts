// TO BE IMPLEMENTED (helper): incremental STOMP parser.
import type { StompFrame, StompVersion } from './frame';

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
}

export type ParseEvent = { type: 'frame'; frame: StompFrame } | { type: 'heartbeat' };

/**
 * Incremental parser: push() any slice of the byte stream, get the complete frames (and
 * heart-beat EOLs between frames) it finished. Throws StompError on bad input; after a
 * throw the parser is unusable (the connection must be closed).
 */
export declare class StompParser {
  constructor(options: ParserOptions);
  /** Switch escaping rules after version negotiation. */
  setVersion(version: StompVersion): void;
  push(chunk: Buffer): ParseEvent[];
  /** Bytes buffered for an incomplete frame. */
  readonly buffered: number;
}
