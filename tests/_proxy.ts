/**
 * A TCP proxy for tests that need to break the network between a client and a
 * server on demand: cut connections, refuse new ones, or stall traffic.
 *
 * @module
 */

/** Options for {@linkcode TcpProxy.start}. */
export interface TcpProxyOptions {
  /**
   * Host the proxy forwards to.
   *
   * @default {"127.0.0.1"}
   */
  targetHost?: string;
  /**
   * Port the proxy forwards to.
   *
   * @default {5672}
   */
  targetPort?: number;
}

/**
 * What the proxy does with traffic:
 * - `"forwarding"`: accepts connections and forwards bytes both ways.
 * - `"stalled"`: accepts connections but holds every byte until restored.
 * - `"refusing"`: closes new connections as soon as they are accepted;
 *   existing connections keep forwarding.
 * - `"closed"`: {@linkcode TcpProxy.close} was called.
 */
export type TcpProxyMode = "forwarding" | "stalled" | "refusing" | "closed";

/** One client connection and the upstream connection opened for it. */
class Pair {
  upstream: Deno.TcpConn | undefined;
  #closed = Promise.withResolvers<void>();
  #isClosed = false;

  constructor(readonly client: Deno.TcpConn, readonly onClose: (pair: Pair) => void) {}

  /** Settles when {@linkcode close} has been called. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Returns false (and closes `upstream`) if the pair was dropped while connecting. */
  attach(upstream: Deno.TcpConn): boolean {
    if (this.#isClosed) {
      closeQuietly(upstream);
      return false;
    }
    this.upstream = upstream;
    return true;
  }

  /** Idempotent, because both pumps and the proxy race to close the same pair. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    closeQuietly(this.client);
    if (this.upstream) closeQuietly(this.upstream);
    this.#closed.resolve();
    this.onClose(this);
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // Already closed: nothing left to release.
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

const CHUNK_SIZE = 64 * 1024;

/**
 * A TCP proxy on `127.0.0.1` (OS-chosen port) in front of a target server, for
 * simulating network failures in tests.
 *
 * Closing either side of a pair closes both: half-closed connections are not
 * forwarded, which AMQP never relies on.
 *
 * @example Cut the connection to RabbitMQ mid-test
 * ```ts ignore
 * import { AMQPClient } from "@cloudamqp/amqp-client";
 * import { TcpProxy } from "./_proxy.ts";
 *
 * await using proxy = await TcpProxy.start();
 * const client = new AMQPClient(proxy.url);
 * await client.connect();
 * proxy.dropConnections(); // the client's socket closes, as on a network cut
 * ```
 */
export class TcpProxy implements AsyncDisposable {
  /** Port the proxy listens on. */
  readonly port: number;
  readonly #targetHost: string;
  readonly #targetPort: number;
  #mode: TcpProxyMode = "forwarding";
  readonly #listener: Deno.TcpListener;
  /** Pending while stalled; pumps wait on it before writing. */
  #gate: PromiseWithResolvers<void> | undefined;
  readonly #pairs = new Set<Pair>();
  /** The accept loop and every connection handler, so close() can await them all. */
  readonly #tasks = new Set<Promise<void>>();
  #totalConnections = 0;

  private constructor(listener: Deno.TcpListener, targetHost: string, targetPort: number) {
    this.#listener = listener;
    this.port = listener.addr.port;
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
    this.#track(this.#acceptLoop());
  }

  /**
   * Starts a proxy that forwards to the target.
   *
   * @param options Where to forward to.
   * @returns The running proxy, in `"forwarding"` mode.
   * @throws {TypeError} If `targetHost` is empty.
   * @throws {RangeError} If `targetPort` is not an integer in 1..65535.
   */
  // deno-lint-ignore require-await -- async so bad options reject rather than throw
  static async start(options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const { targetHost = "127.0.0.1", targetPort = 5672 } = options;
    if (typeof targetHost !== "string" || targetHost === "") {
      throw new TypeError(`'targetHost' must be a non-empty string: got ${String(targetHost)}`);
    }
    if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
      throw new RangeError(`'targetPort' must be an integer in 1..65535: got ${targetPort}`);
    }
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new TcpProxy(listener, targetHost, targetPort);
  }

  /** What the proxy currently does with traffic. */
  get mode(): TcpProxyMode {
    return this.#mode;
  }

  /** `amqp://guest:guest@127.0.0.1:<port>`, for AMQP clients under test. */
  get url(): string {
    return this.urlFor("guest:guest");
  }

  /**
   * Builds an AMQP URL that points at the proxy.
   *
   * @param userinfo `user:password`, already percent-encoded.
   * @returns `amqp://<userinfo>@127.0.0.1:<port>`.
   */
  urlFor(userinfo: string): string {
    return `amqp://${userinfo}@127.0.0.1:${this.port}`;
  }

  /** Client connections currently forwarded (or being connected upstream). */
  get connectionCount(): number {
    return this.#pairs.size;
  }

  /** Connections accepted since start, including ones closed at once. */
  get totalConnections(): number {
    return this.#totalConnections;
  }

  /**
   * Closes every open connection pair at once, like a network cut: clients
   * see their socket closed. New connections are still accepted.
   */
  dropConnections(): void {
    for (const pair of [...this.#pairs]) pair.close();
  }

  /**
   * From now on, closes each new connection as soon as it is accepted: the
   * client's connect succeeds and its socket is closed at once (EOF), which
   * AMQP clients report as a failed connect. Existing connections keep
   * forwarding, and stalled bytes are delivered.
   *
   * It does not stop listening to get a true `ECONNREFUSED`: Deno frees a
   * closed listener's socket only once its pending accept is cancelled on a
   * later tick, so a `restore()` right after would fail with `AddrInUse`.
   */
  refuse(): void {
    this.#setMode("refusing");
  }

  /** Simulates the target going away: {@linkcode refuse} plus {@linkcode dropConnections}. */
  outage(): void {
    this.refuse();
    this.dropConnections();
  }

  /**
   * Keeps connections open but forwards no bytes in either direction, as when
   * packets are lost. Nothing is dropped: bytes wait (in the proxy and in the
   * kernel's socket buffers) and are delivered in order on
   * {@linkcode restore}, so AMQP framing survives. New connections are
   * accepted and stalled too.
   */
  stall(): void {
    this.#setMode("stalled");
  }

  /** Back to normal: accepts and forwards new connections and delivers stalled bytes. */
  restore(): void {
    this.#setMode("forwarding");
  }

  /** Closes the listener and every connection, and waits until all I/O has finished. */
  async close(): Promise<void> {
    this.#setMode("closed");
    this.dropConnections();
    // Handlers still connecting upstream add no new tasks after "closed", so this ends.
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The one place the mode changes; the listener and the stall gate follow from it. */
  #setMode(next: TcpProxyMode): void {
    if (this.#mode === "closed") return;
    this.#mode = next;
    if (next === "closed") this.#listener.close();
    if (next === "stalled") {
      this.#gate ??= Promise.withResolvers<void>();
    } else if (this.#gate) {
      this.#gate.resolve();
      this.#gate = undefined;
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    const forget = () => this.#tasks.delete(task);
    task.then(forget, forget);
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const client of this.#listener) this.#track(this.#handle(client));
    } catch {
      // close() closed the listener under a pending accept.
    }
  }

  async #handle(client: Deno.TcpConn): Promise<void> {
    this.#totalConnections++;
    // Refusing by accept-then-close; "closed" covers an accept that completed
    // just before close() closed the listener.
    if (this.#mode === "refusing" || this.#mode === "closed") {
      closeQuietly(client);
      return;
    }
    const pair = new Pair(client, (p) => this.#pairs.delete(p));
    this.#pairs.add(pair);

    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: this.#targetHost, port: this.#targetPort });
    } catch {
      // Target down: the client sees its connection close, as with a dead broker.
      pair.close();
      return;
    }
    if (!pair.attach(upstream)) return;
    // A proxy should add no latency; Nagle's algorithm would delay small frames.
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    await Promise.all([this.#pump(pair, client, upstream), this.#pump(pair, upstream, client)]);
  }

  async #pump(pair: Pair, from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(CHUNK_SIZE);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        // Hold the chunk rather than drop it; while we wait, the kernel buffers the rest.
        for (let gate = this.#gate; gate; gate = this.#gate) {
          await Promise.race([gate.promise, pair.closed]);
          if (pair.isClosed) return;
        }
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch {
      // The peer reset, or dropConnections()/close() closed the conn under us:
      // either way this pair is finished.
    } finally {
      pair.close();
    }
  }
}
