// Network namespaces for partitions (`ip netns`, veth pairs, one Linux bridge), made and
// removed by the tool itself. Each placed service (a store, a bridge process) runs in its own
// namespace with its own address on a private /24; everything else stays in the root
// namespace, reached at <subnet>.1 (ZooKeeper's client ports at <subnet>.2, a second address
// of the same bridge, so a route can cut ZooKeeper without cutting the gateway).
//
// Cuts are routes, not packet filters: this kernel has no tc actions, iptables or nft, so a
// partition is `ip route add blackhole <peer>/32` inside the namespace (nothing it sends to
// the peer leaves, and no connection either way can complete: a reply is a send too), and an
// isolation is its veth link down. Flapping is the link toggled.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

export class NetnsError extends Error {
  readonly code = 'NETNS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = 'NetnsError'; }
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const execFileAsync = promisify(execFile);

/**
 * `ip` without blocking the event loop: the faults run in the process of the workload's clients
 * (a blocking command stalls them all: docs/reliability.md D16). Setup and teardown use ip().
 */
async function ipAsync(...args: string[]): Promise<void> {
  await execFileAsync('ip', args, { encoding: 'utf8' });
}

interface Placed { name: string; ns: string; host: string; hostIf: string }

export class NetLab {
  readonly tag = randomBytes(2).toString('hex');
  readonly subnet: string;
  private readonly bridge: string;
  private readonly placed = new Map<string, Placed>();
  private readonly cuts = new Map<string, Set<string>>();
  private destroyed = false;

  private constructor() {
    this.bridge = `hc${this.tag}br`;
    const used = ip('-4', '-o', 'addr');
    let s: string;
    do { s = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]}`; } while (used.includes(` ${s}.`));
    this.subnet = s;
  }

  /** The address of the services left in the root namespace. */
  get rootHost(): string { return `${this.subnet}.1`; }
  /** ZooKeeper's address (a second address of the root namespace's bridge). */
  get zkHost(): string { return `${this.subnet}.2`; }

  /** Makes the bridge and one namespace per name; throws NetnsError (with ip's message) when this machine cannot. */
  static create(names: string[]): NetLab {
    const lab = new NetLab();
    try {
      ip('link', 'add', lab.bridge, 'type', 'bridge');
      ip('addr', 'add', `${lab.rootHost}/24`, 'dev', lab.bridge);
      ip('addr', 'add', `${lab.zkHost}/24`, 'dev', lab.bridge);
      ip('link', 'set', lab.bridge, 'up');
      names.forEach((name, i) => lab.add(name, i));
    } catch (e) {
      lab.destroy();
      const msg = (e as { stderr?: string }).stderr?.trim() || (e as Error).message;
      throw new NetnsError(`network namespaces are not available here: ${msg}`, { cause: e });
    }
    return lab;
  }

  private add(name: string, i: number): void {
    const ns = `hc-${this.tag}-${name}`;
    const hostIf = `hc${this.tag}v${i}`;
    const nsIf = `hc${this.tag}p${i}`;
    const host = `${this.subnet}.${11 + i}`;
    ip('netns', 'add', ns);
    this.placed.set(name, { name, ns, host, hostIf });
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('link', 'set', hostIf, 'master', this.bridge);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'link', 'set', nsIf, 'name', 'eth0');
    ip('-n', ns, 'addr', 'add', `${host}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  /** Every address in play (certificates list them all). */
  get hosts(): string[] { return [this.rootHost, this.zkHost, ...[...this.placed.values()].map((p) => p.host)]; }

  /** Where `name` runs: the command that runs node in its namespace, and its address. */
  place(name: string): { wrap: string[]; host: string } | undefined {
    const p = this.placed.get(name);
    return p ? { wrap: ['ip', 'netns', 'exec', p.ns], host: p.host } : undefined;
  }

  hostOf(name: string): string {
    const p = this.placed.get(name);
    if (!p) throw new NetnsError(`${name} is not in a namespace of this lab`);
    return p.host;
  }

  private nsOf(name: string): string {
    const p = this.placed.get(name);
    if (!p) throw new NetnsError(`${name} is not in a namespace of this lab`);
    return p.ns;
  }

  /** `name` can no longer exchange anything with `peers` (addresses). */
  async cut(name: string, peers: string[]): Promise<void> {
    const set = this.cuts.get(name) ?? new Set<string>();
    this.cuts.set(name, set);
    for (const peer of peers) {
      if (set.has(peer)) continue;
      await ipAsync('-n', this.nsOf(name), 'route', 'add', 'blackhole', `${peer}/32`);
      set.add(peer);
    }
  }

  /** Removes every cut of `name`. */
  async heal(name: string): Promise<void> {
    for (const peer of this.cuts.get(name) ?? []) {
      await ipAsync('-n', this.nsOf(name), 'route', 'del', 'blackhole', `${peer}/32`).catch(() => undefined); // already gone
    }
    this.cuts.delete(name);
  }

  async link(name: string, up: boolean): Promise<void> {
    await ipAsync('-n', this.nsOf(name), 'link', 'set', 'eth0', up ? 'up' : 'down');
  }

  /** Heals every cut and brings every link up. */
  async healAll(): Promise<void> {
    for (const name of [...this.cuts.keys()]) await this.heal(name);
    for (const name of this.placed.keys()) await this.link(name, true).catch(() => undefined); // gone
  }

  /**
   * Removes the namespaces (killing with SIGKILL whatever still runs in them: only processes
   * this run placed there), the veth pairs and the bridge. Synchronous: usable from an exit hook.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.placed.values()) {
      try {
        for (const pid of ip('netns', 'pids', p.ns).split('\n').filter(Boolean)) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
      } catch { /* no such namespace */ }
      try { ip('link', 'del', p.hostIf); } catch { /* went with the namespace */ }
      try { ip('netns', 'del', p.ns); } catch { /* not there */ }
    }
    try { ip('link', 'del', this.bridge); } catch { /* not there */ }
  }
}
