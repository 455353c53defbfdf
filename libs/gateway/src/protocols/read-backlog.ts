// What a client connection (STOMP frames, MQTT packets) read after the store's back-pressure
// paused it — the producer window full, or the link's — from the same socket read. Without it
// the rest of a read went through, and a fast producer of small frames passed
// limits.producerWindow by a whole read. Both protocol adapters hold such input here and hand
// it on, in order, once the pause lifts.
export class ReadBacklog<T> {
  private items: T[] | undefined;
  private draining = false;

  /** Input is held (a pause began and what it held has not all gone on). */
  get holding(): boolean { return this.items !== undefined; }

  /** The store paused the client: what is read from now on waits here. */
  hold(): void { this.items ??= []; }

  push(item: T): void { (this.items ??= []).push(item); }

  /**
   * The pause lifted: handles what waits, in order, while the client is neither paused again
   * nor closed; stops holding once nothing waits and no pause is on. A call from inside a
   * handled item returns (the outer one goes on).
   */
  drain(paused: () => boolean, open: () => boolean, handle: (item: T) => void): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.items?.length && !paused() && open()) handle(this.items.shift()!);
      if (!paused()) this.items = undefined;
    } finally {
      this.draining = false;
    }
  }
}
