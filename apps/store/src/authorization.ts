// The store's authorization map (authorization.file): the one place every session's SEND and
// SUBSCRIBE is checked, whatever opened it (a gateway, separate or embedded, the bridge).
// Re-read when the file changes (checked at most once a second); a version that does not
// parse is logged and the previous one stays in force.
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '@hawser/config';
import { AuthorizationMap, type Action, type Principal } from '@hawser/security';
import type { Authorizer } from '@hawser/broker';
import type { Logger } from '@hawser/observability';

export class AuthorizationFile implements Authorizer {
  private map: AuthorizationMap;
  private stamp: string;
  private checkedAt = 0;

  constructor(private readonly path: string, private readonly log: Logger) {
    this.stamp = this.readStamp();
    try {
      this.map = this.load();
    } catch (e) {
      throw new ConfigError('authorization.file', (e as Error).message);
    }
    log.info({ file: path, entries: this.map.entries.length }, 'authorization map loaded');
  }

  private readStamp(): string {
    try { const s = statSync(this.path); return `${s.mtimeMs}:${s.size}`; } catch { return 'missing'; }
  }

  private load(): AuthorizationMap {
    return AuthorizationMap.parse(readFileSync(this.path, 'utf8'), this.path);
  }

  can(principal: Principal, action: Action, destination: string): boolean {
    const now = Date.now();
    if (now - this.checkedAt >= 1_000) {
      this.checkedAt = now;
      const stamp = this.readStamp();
      if (stamp !== this.stamp) {
        this.stamp = stamp;
        try {
          this.map = this.load();
          this.log.info({ file: this.path, entries: this.map.entries.length }, 'authorization map reloaded');
        } catch (e) {
          this.log.error({ err: (e as Error).message }, 'authorization map not reloaded: it does not parse (the previous version stays in force)');
        }
      }
    }
    return this.map.can(principal, action, destination);
  }
}
