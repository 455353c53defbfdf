// Named errors of the bridge (docs/architecture.md: a code, a message that says what to do, a cause).
export type BridgeErrorCode =
  | 'STORE_UNAVAILABLE'   // a group's master session failed or ended
  | 'NO_MASTER'           // a group has no master right now
  | 'LOCK_LOST'           // the ZooKeeper lock (active/standby) was lost
  | 'INVALID_CONFIG';

export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  constructor(code: BridgeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BridgeError';
    this.code = code;
  }
}
