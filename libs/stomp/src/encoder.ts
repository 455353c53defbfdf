// TO BE IMPLEMENTED (helper): frame -> bytes.
import type { StompFrame, StompVersion } from './frame';

/**
 * Encodes a frame for `version` (header escaping per version; CONNECT/CONNECTED never
 * escaped). Adds content-length when the body is non-empty and none is given.
 */
export declare function encodeFrame(frame: StompFrame, version: StompVersion): Buffer;
/** The heart-beat byte sequence (a single EOL). */
export declare const HEARTBEAT: Buffer;
