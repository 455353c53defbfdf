// What one fuzz connection sends, batch by batch: a CONNECT (valid, mutated or missing),
// then generated frames with a per-connection mutation rate, garbage now and then, and an
// ending (DISCONNECT, FIN or reset). The bytes of each batch come split into TCP writes.
// Pure; the driver (stomp-driver.ts) does the I/O and feeds back what the server sent.
import type { Prng } from './prng';
import { FrameGenerator, type GeneratorOptions } from './frames';
import { mutate, garbage, split } from './mutate';

export type ConnectionKind = 'stomp' | 'mutated-connect' | 'no-connect' | 'garbage';
export type Ending = 'disconnect' | 'fin' | 'reset';

export interface Batch {
  /** The batch split into writes (each its own socket.write, with a turn of the loop between). */
  writes: Buffer[];
  frames: number;
  valid: number;
  mutated: number;
  garbage: number;
  /** The batch holds the connection's first frame, a well-formed CONNECT/STOMP. */
  connect: boolean;
}

export class ConnectionScript {
  readonly kind: ConnectionKind;
  readonly ending: Ending;
  /** Probability that a frame is mutated (0 for a third of the connections). */
  readonly mutationRate: number;
  readonly generator: FrameGenerator;
  private left: number;
  private started = false;
  private ended = false;

  constructor(private readonly rng: Prng, frameBudget: number, opts: GeneratorOptions = {}) {
    this.generator = new FrameGenerator(rng, opts);
    this.kind = rng.weighted<ConnectionKind>([[86, 'stomp'], [6, 'mutated-connect'], [3, 'no-connect'], [5, 'garbage']]);
    this.ending = rng.weighted<Ending>([[50, 'disconnect'], [25, 'fin'], [25, 'reset']]);
    this.mutationRate = rng.weighted([[35, 0], [30, 0.005], [25, 0.03], [10, 0.2]] as const);
    const want = rng.weighted([[35, rng.range(1, 10)], [40, rng.range(10, 60)], [20, rng.range(60, 300)], [5, rng.range(300, 1500)]] as const);
    this.left = Math.max(1, Math.min(want, frameBudget));
  }

  /** Frames this script may still send. */
  get remaining(): number { return this.left; }

  /** The next batch, or undefined when the script is done (the ending included). */
  next(): Batch | undefined {
    if (this.ended) return undefined;
    const rng = this.rng;
    const b: Batch = { writes: [], frames: 0, valid: 0, mutated: 0, garbage: 0, connect: false };
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      if (this.kind === 'garbage') {
        parts.push(garbage(rng));
        b.frames++; b.garbage++; this.left--;
        this.left = Math.min(this.left, rng.range(0, 3));
      } else if (this.kind === 'mutated-connect') {
        const c = this.generator.connect().bytes;
        parts.push(mutate(rng, c, this.generator.next().bytes).bytes);
        b.frames++; b.mutated++; this.left--;
      } else if (this.kind === 'stomp') {
        parts.push(this.generator.connect().bytes);
        b.frames++; b.valid++; this.left--; b.connect = true;
      }
    }
    const n = Math.min(this.left, rng.weighted([[40, 1], [30, rng.range(2, 4)], [25, rng.range(5, 16)], [5, rng.range(17, 64)]] as const));
    for (let i = 0; i < n; i++) {
      if (this.kind === 'garbage' || rng.chance(this.mutationRate / 8)) {
        parts.push(garbage(rng)); b.garbage++;
      } else if (rng.chance(this.mutationRate)) {
        parts.push(mutate(rng, this.generator.next().bytes, this.generator.next().bytes).bytes); b.mutated++;
      } else {
        parts.push(this.generator.next().bytes); b.valid++;
      }
      b.frames++;
      this.left--;
    }
    if (this.left <= 0) {
      this.ended = true;
      if (this.ending === 'disconnect' && this.kind !== 'garbage') { parts.push(this.generator.disconnect().bytes); b.frames++; b.valid++; }
    }
    if (parts.length === 0) return this.ended ? undefined : this.next();
    b.writes = split(rng, Buffer.concat(parts));
    return b;
  }
}
