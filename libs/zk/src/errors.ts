// Named errors of the ZooKeeper adapter. `code` is stable (callers switch on it); `rc` is
// the ZooKeeper C client's return code (ZooKeeper.h: ZNONODE = -101, ...).

export type ZkErrorCode =
  | 'NO_NODE'
  | 'NODE_EXISTS'
  | 'BAD_VERSION'
  | 'NOT_EMPTY'
  | 'CONNECTION_LOSS'
  | 'OPERATION_TIMEOUT'
  | 'SESSION_EXPIRED'
  | 'CLOSED'
  | 'NO_AUTH'
  | 'AUTH_FAILED'
  | 'ZK_ERROR';

export class ZkError extends Error {
  constructor(message: string, readonly code: ZkErrorCode, readonly rc: number, readonly path?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ZkError';
  }
}

export class ZkNoNodeError extends ZkError {
  constructor(path: string, rc = -101) { super(`znode ${path} does not exist`, 'NO_NODE', rc, path); this.name = 'ZkNoNodeError'; }
}
export class ZkNodeExistsError extends ZkError {
  constructor(path: string, rc = -110) { super(`znode ${path} already exists`, 'NODE_EXISTS', rc, path); this.name = 'ZkNodeExistsError'; }
}
/** A conditional set/delete lost the race: the znode's version is not the expected one. */
export class ZkBadVersionError extends ZkError {
  constructor(path: string, readonly expectedVersion?: number, rc = -103) {
    super(`znode ${path} changed (expected version ${expectedVersion ?? '?'})`, 'BAD_VERSION', rc, path);
    this.name = 'ZkBadVersionError';
  }
}
export class ZkNotEmptyError extends ZkError {
  constructor(path: string, rc = -111) { super(`znode ${path} has children`, 'NOT_EMPTY', rc, path); this.name = 'ZkNotEmptyError'; }
}
/** The connection dropped while the request was in flight: it may or may not have been applied. */
export class ZkConnectionLossError extends ZkError {
  constructor(message: string, rc = -4, path?: string) { super(message, 'CONNECTION_LOSS', rc, path); this.name = 'ZkConnectionLossError'; }
}
export class ZkSessionExpiredError extends ZkError {
  constructor(message = 'ZooKeeper session expired', rc = -112, path?: string) { super(message, 'SESSION_EXPIRED', rc, path); this.name = 'ZkSessionExpiredError'; }
}
export class ZkClosedError extends ZkError {
  constructor(message = 'ZooKeeper client is closed', rc = -116, path?: string) { super(message, 'CLOSED', rc, path); this.name = 'ZkClosedError'; }
}

/** The znode's ACL does not let this session do that (ZNOAUTH): zk.auth is missing or not the cluster's. */
export class ZkNoAuthError extends ZkError {
  constructor(path: string, rc = -102) {
    super(`not allowed on znode ${path} (its ACL): this client has no or another digest identity; set zk.auth to the cluster's user:password`, 'NO_AUTH', rc, path);
    this.name = 'ZkNoAuthError';
  }
}

/** Maps a C client return code to a named error. */
export function zkError(rc: number, message: string, path: string, expectedVersion?: number): ZkError {
  switch (rc) {
    case -101: return new ZkNoNodeError(path, rc);
    case -110: return new ZkNodeExistsError(path, rc);
    case -103: return new ZkBadVersionError(path, expectedVersion, rc);
    case -111: return new ZkNotEmptyError(path, rc);
    case -102: return new ZkNoAuthError(path, rc);
    case -115: return new ZkError(`ZooKeeper refused the credentials (zk.auth) during an operation on ${path}`, 'AUTH_FAILED', rc, path);
    case -4: return new ZkConnectionLossError(`connection lost during an operation on ${path}: ${message}`, rc, path);
    case -7: return new ZkError(`operation on ${path} timed out: ${message}`, 'OPERATION_TIMEOUT', rc, path);
    case -112: return new ZkSessionExpiredError(`ZooKeeper session expired (operation on ${path})`, rc, path);
    case -116: return new ZkClosedError(`ZooKeeper client is closing (operation on ${path})`, rc, path);
    case -9: return new ZkClosedError(`ZooKeeper handle is not usable (operation on ${path}): ${message}`, rc, path);
    default: return new ZkError(`ZooKeeper error ${rc} (${message}) on ${path}`, 'ZK_ERROR', rc, path);
  }
}
