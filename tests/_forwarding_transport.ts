// A transport that forwards everything to another: tests extend it and
// override send() to observe what the publisher does with a real broker.

import type {
  ConnectionState,
  ConnectionStateChange,
  OutboundMessage,
  SendOptions,
  SendOutcome,
  Transport,
} from "../mod.ts";

export class ForwardingTransport implements Transport {
  constructor(readonly inner: Transport) {}

  get state(): ConnectionState {
    return this.inner.state;
  }

  get reconnectAttempts(): number {
    return this.inner.reconnectAttempts;
  }

  get url(): string | undefined {
    return this.inner.url;
  }

  get blockedReason(): string | undefined {
    return this.inner.blockedReason;
  }

  start(): Promise<boolean> {
    return this.inner.start();
  }

  onStateChange(listener: (change: ConnectionStateChange) => void): () => void {
    return this.inner.onStateChange(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  send(
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options?: SendOptions,
  ): Promise<SendOutcome[]> {
    return this.inner.send(messages, timeoutMs, options);
  }
}
