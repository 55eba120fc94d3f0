// Transports of the benchmark: one that confirms every message at once (the
// in-process ceiling: no broker, only our own pipeline), and one that keeps a
// real connection but tells the publisher it is down until `restore()` (an
// outage without a TCP proxy in the path, so the drain that follows runs on
// the same direct connection as the references).

import {
  type ConnectionState,
  type ConnectionStateChange,
  type OutboundMessage,
  type SendOutcome,
  type Transport,
  TransportError,
} from "../mod.ts";
import { ForwardingTransport } from "../tests/_forwarding_transport.ts";

const CONFIRMED: SendOutcome = { ok: true };

/** Confirms every message as soon as it is sent. */
export class InstantTransport implements Transport {
  #state: ConnectionState = "disconnected";
  #listeners = new Set<(change: ConnectionStateChange) => void>();
  readonly reconnectAttempts = 0;
  readonly url = "instant://";
  /** Messages sent. */
  sent = 0;

  get state(): ConnectionState {
    return this.#state;
  }

  start(): Promise<boolean> {
    this.#set("connected");
    return Promise.resolve(true);
  }

  send(messages: readonly OutboundMessage[]): Promise<SendOutcome[]> {
    this.sent += messages.length;
    return Promise.resolve(messages.map(() => CONFIRMED));
  }

  onStateChange(listener: (change: ConnectionStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#set("closed");
    return Promise.resolve();
  }

  #set(to: ConnectionState): void {
    const change = { from: this.#state, to, at: Date.now(), url: this.url };
    this.#state = to;
    for (const listener of this.#listeners) listener(change);
  }
}

/** A real transport the publisher sees as `disconnected` until {@linkcode restore}. */
export class OutageTransport extends ForwardingTransport {
  #down = true;
  #listeners = new Set<(change: ConnectionStateChange) => void>();
  #unsubscribe: () => void;

  constructor(inner: Transport) {
    super(inner);
    this.#unsubscribe = inner.onStateChange((change) => {
      if (this.#down) return;
      for (const listener of this.#listeners) listener(change);
    });
  }

  override get state(): ConnectionState {
    return this.#down && this.inner.state === "connected" ? "disconnected" : this.inner.state;
  }

  override async start(): Promise<boolean> {
    await this.inner.start();
    return this.state === "connected";
  }

  override onStateChange(listener: (change: ConnectionStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  override send(messages: readonly OutboundMessage[], timeoutMs: number): Promise<SendOutcome[]> {
    if (!this.#down) return super.send(messages, timeoutMs);
    const error = new TransportError("not-connected", "outage (bench)", { sent: false });
    return Promise.resolve(messages.map(() => ({ ok: false, error })));
  }

  /** Ends the outage: the publisher hears `disconnected → connected` and drains. */
  restore(): void {
    this.#down = false;
    const change = { from: "disconnected" as const, to: this.inner.state, at: Date.now() };
    for (const listener of this.#listeners) listener(change);
  }

  override async close(): Promise<void> {
    this.#unsubscribe();
    await super.close();
  }
}
