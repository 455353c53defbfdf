// The failover transport's decisions, as a pure state machine (no sockets, no timers, the
// random source injected): which URI to dial next, how long to wait, when to give up, and
// (priorityBackup) when to look for the priority URI again. The I/O wrapper
// (failover-client.ts) feeds it events and carries out the actions.
//
// ActiveMQ's failover transport semantics (Failover Transport Reference):
//   - a "pass" tries every URI once: in random order (randomize=true) or left to right; the
//     URI that just failed goes last; with priorityBackup the priority URIs go first;
//   - a connection lost: a new pass starts at once;
//   - a failed pass: wait `delay`, starting at initialReconnectDelay and multiplied by
//     backOffMultiplier after each failed pass (useExponentialBackOff), at most maxReconnectDelay;
//   - give up once failed passes exceed the limit: maxReconnectAttempts (-1: never;
//     0: no reconnect, one pass), or startupMaxReconnectAttempts before the first connection
//     when it is not -1;
//   - priorityBackup: while connected to a non-priority URI, probe the first priority URI on
//     the same backoff; when it answers, the wrapper moves there.
import type { FailoverOptions } from './uri';

export type ReconnectAction =
  /** Dial endpoint `endpoint` (an index into the URI list). `pass` counts passes (1 = first). */
  | { type: 'dial'; endpoint: number; pass: number }
  /** Wait `ms`, then call waited(). */
  | { type: 'wait'; ms: number }
  /** Stop: `passes` passes failed. */
  | { type: 'give-up'; passes: number }
  /** priorityBackup: after `ms`, try the priority endpoint in the background. */
  | { type: 'probe'; endpoint: number; ms: number }
  /** Connected; nothing to do. */
  | { type: 'idle' };

export class ReconnectSchedule {
  private order: number[] = [];
  private next = 0;
  private pass = 0;
  private failedPasses = 0;
  private delay: number;
  private probeDelay: number;
  private everConnected = false;
  private current: number | undefined;
  private lastFailed: number | undefined;
  private readonly priority: number[];

  constructor(
    private readonly endpoints: readonly { uri: string }[],
    private readonly opts: FailoverOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (endpoints.length === 0) throw new Error('ReconnectSchedule needs at least one endpoint');
    this.delay = opts.initialReconnectDelay;
    this.probeDelay = opts.initialReconnectDelay;
    const named = opts.priorityURIs.map((u) => endpoints.findIndex((e) => e.uri === u)).filter((i) => i >= 0);
    this.priority = opts.priorityBackup ? (named.length ? named : [0]) : [];
  }

  /** The endpoint we are connected to (undefined while not). */
  get connectedTo(): number | undefined { return this.current; }
  /** Failed passes since the last connection. */
  get failures(): number { return this.failedPasses; }
  /** The wait after the next failed pass. */
  get nextDelay(): number { return this.delay; }
  isPriority(endpoint: number): boolean { return this.priority.includes(endpoint); }

  /** First connection. */
  start(): ReconnectAction { return this.newPass(); }

  /** The dial of the endpoint last returned failed. */
  dialFailed(): ReconnectAction {
    if (this.next < this.order.length) return this.dialNext();
    // The whole pass failed.
    this.failedPasses++;
    const limit = !this.everConnected && this.opts.startupMaxReconnectAttempts !== -1
      ? this.opts.startupMaxReconnectAttempts
      : this.opts.maxReconnectAttempts;
    if (limit !== -1 && this.failedPasses > limit) return { type: 'give-up', passes: this.failedPasses };
    const ms = this.delay;
    if (this.opts.useExponentialBackOff) this.delay = Math.min(Math.round(this.delay * this.opts.backOffMultiplier), this.opts.maxReconnectDelay);
    return { type: 'wait', ms: Math.min(ms, this.opts.maxReconnectDelay) };
  }

  /** The wait is over. */
  waited(): ReconnectAction { return this.newPass(); }

  /** The dial of `endpoint` succeeded (a reconnect, or a priority probe the wrapper switched to). */
  connected(endpoint: number): ReconnectAction {
    this.current = endpoint;
    this.everConnected = true;
    this.failedPasses = 0;
    this.delay = this.opts.initialReconnectDelay;
    this.probeDelay = this.opts.initialReconnectDelay;
    return this.maybeProbe();
  }

  /** The connection dropped: a new pass at once, the endpoint that failed last. */
  lost(): ReconnectAction {
    this.lastFailed = this.current;
    this.current = undefined;
    return this.newPass();
  }

  /** The priority probe did not connect: try again later (same backoff rules). */
  probeFailed(): ReconnectAction {
    if (this.opts.useExponentialBackOff) this.probeDelay = Math.min(Math.round(this.probeDelay * this.opts.backOffMultiplier), this.opts.maxReconnectDelay);
    return this.maybeProbe();
  }

  private maybeProbe(): ReconnectAction {
    if (this.current === undefined || this.priority.length === 0 || this.priority.includes(this.current)) return { type: 'idle' };
    return { type: 'probe', endpoint: this.priority[0]!, ms: this.probeDelay };
  }

  private newPass(): ReconnectAction {
    this.pass++;
    let order = this.endpoints.map((_, i) => i);
    if (this.opts.randomize) {
      // Fisher-Yates with the injected random source.
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    if (this.lastFailed !== undefined && order.length > 1) order = [...order.filter((i) => i !== this.lastFailed), this.lastFailed];
    if (this.priority.length) order = [...this.priority.filter((i) => order.includes(i)), ...order.filter((i) => !this.priority.includes(i))];
    this.order = order;
    this.next = 0;
    return this.dialNext();
  }

  private dialNext(): ReconnectAction {
    return { type: 'dial', endpoint: this.order[this.next++]!, pass: this.pass };
  }
}
