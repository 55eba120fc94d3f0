// The order in which the connection loop tries the broker URLs (the nodes of
// a cluster): round-robin from a random start, so that several publishers
// given the same list spread over the nodes; after a lost connection the next
// node comes first and the lost one last; within a round, nodes that failed
// in their last attempt come after those that did not, so a node that
// answers is preferred to one that just refused or timed out.

/** Which URL to try next, and what happened to the last tries. */
export class NodeOrder {
  readonly #count: number;
  // Indexes whose last attempt failed (or whose connection was lost).
  readonly #failed = new Set<number>();
  #next: number;

  /**
   * @param count How many URLs there are.
   * @param start The index the first round starts from. @default {a random index}
   */
  constructor(count: number, start: number = Math.floor(Math.random() * count)) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`'count' must be a positive integer: got ${count}`);
    }
    this.#count = count;
    this.#next = ((start % count) + count) % count;
  }

  /**
   * The indexes of one round, in the order to try them: every URL once,
   * round-robin from the next one, those that failed last time at the end.
   */
  round(): number[] {
    const rotation = Array.from({ length: this.#count }, (_, i) => (this.#next + i) % this.#count);
    return [
      ...rotation.filter((i) => !this.#failed.has(i)),
      ...rotation.filter((i) => this.#failed.has(i)),
    ];
  }

  /** The attempt on `index` failed. */
  failed(index: number): void {
    this.#failed.add(index);
  }

  /** The attempt on `index` connected. */
  connected(index: number): void {
    this.#failed.delete(index);
  }

  /** The connection to `index` was lost: the next round starts after it and tries it last. */
  lost(index: number): void {
    this.#failed.add(index);
    this.#next = (index + 1) % this.#count;
  }
}
