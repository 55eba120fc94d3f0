/**
 * The transport: what the publisher needs from a broker connection, whatever
 * carries it. The RabbitMQ implementation is `AmqpTransport`; tests may script
 * their own.
 *
 * @module
 */

import type { TransportError } from "./errors.ts";
import type { MessageProperties } from "./event.ts";

/** The state of the broker connection. */
export type ConnectionState =
  /** Trying to connect (first time or after a loss). */
  | "connecting"
  /** Connected, channel in confirm mode, topology declared. */
  | "connected"
  /** Connected, but the broker blocks publishing (a memory or disk alarm). */
  | "blocked"
  /** Lost; a reconnection is scheduled. */
  | "disconnected"
  /** Closed by `close()`; final. */
  | "closed";

/** A change of {@linkcode ConnectionState}. */
export interface ConnectionStateChange {
  /** The state before. */
  from: ConnectionState;
  /** The state now. */
  to: ConnectionState;
  /** When it changed (ms since the epoch). */
  at: number;
  /** The broker URL involved, with the password masked. */
  url?: string;
  /** Why, for losses and failed attempts (credentials masked). */
  error?: Error;
}

/** One message to publish. */
export interface OutboundMessage {
  /** The exchange. */
  exchange: string;
  /** The routing key. */
  routingKey: string;
  /** The body (JSON text). */
  body: string;
  /** The AMQP properties. */
  properties: MessageProperties;
}

/** What became of one message of a {@linkcode Transport.send} call. */
export type SendOutcome =
  /** RabbitMQ confirmed it (and did not return it). */
  | { ok: true }
  /** It failed; `error.sent` tells whether the outcome is unknown. */
  | { ok: false; error: TransportError };

/** A connection to a broker that publishes with confirms. */
export interface Transport {
  /** The current state. */
  readonly state: ConnectionState;
  /** Failed connection attempts since the last successful connect. */
  readonly reconnectAttempts: number;
  /** The URL of the current (or last) connection, password masked. */
  readonly url: string | undefined;
  /**
   * Starts connecting, and keeps reconnecting after losses until `close()`.
   *
   * @returns Resolves after the first attempt through every URL, true when connected.
   */
  start(): Promise<boolean>;
  /**
   * Publishes messages (with `mandatory`) and waits for their confirms.
   * Never rejects: each message gets its own outcome, in order.
   *
   * @param messages The messages.
   * @param timeoutMs The longest wait for a confirm.
   */
  send(messages: readonly OutboundMessage[], timeoutMs: number): Promise<SendOutcome[]>;
  /**
   * Calls `listener` on every state change.
   *
   * @returns A function that removes the listener.
   */
  onStateChange(listener: (change: ConnectionStateChange) => void): () => void;
  /** Closes the connection and stops reconnecting. */
  close(): Promise<void>;
}
