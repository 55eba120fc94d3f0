// A binary min-heap of values under numeric keys, kept in two parallel
// arrays so that a push or pop allocates nothing. Entries are never removed
// from the middle: users drop stale ones when they reach the top.

/** A binary min-heap of `(key, value)` pairs, smallest key on top. */
export class KeyedHeap<T> {
  readonly #keys: number[] = [];
  readonly #values: T[] = [];

  /** Entries held, stale ones included. */
  get length(): number {
    return this.#keys.length;
  }

  /** The smallest key; only while `length > 0`. */
  peekKey(): number {
    return this.#keys[0];
  }

  /** The value under the smallest key; only while `length > 0`. */
  peekValue(): T {
    return this.#values[0];
  }

  push(key: number, value: T): void {
    const keys = this.#keys;
    const values = this.#values;
    let i = keys.length;
    keys.push(key);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      values[i] = values[parent];
      i = parent;
    }
    keys[i] = key;
    values[i] = value;
  }

  /** Removes the top entry; only while `length > 0`. */
  pop(): void {
    const keys = this.#keys;
    const values = this.#values;
    const lastKey = keys.pop()!;
    const lastValue = values.pop()!;
    const n = keys.length;
    if (n === 0) return;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1] < keys[child]) child++;
      if (keys[child] >= lastKey) break;
      keys[i] = keys[child];
      values[i] = values[child];
      i = child;
    }
    keys[i] = lastKey;
    values[i] = lastValue;
  }

  clear(): void {
    this.#keys.length = 0;
    this.#values.length = 0;
  }
}
