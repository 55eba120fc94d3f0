// Connections to RabbitMQ: one attempt on one URL (the client's workarounds
// applied, bounded in time, closed again when it fails), the loop over
// several broker URLs in rounds (their order is _node_order.ts's), the
// backoff between rounds, and a quiet close. The transport and the
// dead-letter queue both connect through here.

import { type AMQPBaseClient, type AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import { deadline, settleWithin } from "../_async.ts";
import { maskUrl } from "../_mask.ts";
import { BrokerConfigurationError } from "../errors.ts";
import { toError } from "./_errors.ts";
import type { NodeOrder } from "./_node_order.ts";

/** How {@linkcode connect} opens a connection. */
export interface ConnectOptions {
  /** The connection name shown in the management UI, unless the URL names one. */
  connectionName: string;
  /** The heartbeat in seconds, unless the URL sets one; when absent, the client's default. */
  heartbeat?: number;
  /** The longest wait for the connection and its `setup`, in ms. */
  connectTimeout: number;
  /** Attaches handlers (errors, blocked) to the client before it connects. */
  prepare?: (client: AMQPClient) => void;
}

/**
 * Connects to `url` and runs `setup` on the connection (channels, declares),
 * both within `connectTimeout`. When either fails, the connection is closed
 * again and the error rethrown.
 */
export async function connect<T>(
  url: string,
  options: ConnectOptions,
  setup: (client: AMQPClient) => Promise<T>,
): Promise<T> {
  const { connectionName, heartbeat, connectTimeout, prepare } = options;
  const target = new URL(url);
  if (heartbeat !== undefined && !target.searchParams.has("heartbeat")) {
    target.searchParams.set("heartbeat", String(heartbeat));
  }
  if (!target.searchParams.has("name")) target.searchParams.set("name", connectionName);
  const client = new AMQPClient(target.toString());
  prepare?.(client);
  try {
    return await deadline(
      client.connect().then(() => setup(client)),
      connectTimeout,
      () => new Error(`connection attempt timed out after ${connectTimeout} ms`),
    );
  } catch (error) {
    await closeQuietly(client);
    throw error;
  }
}

/** What {@linkcode connectLoop} reports, and asks, along the way. */
export interface ConnectLoopHooks {
  /** Ends the loop, between attempts or after the one under way. */
  signal?: AbortSignal;
  /** Before each attempt, with the URL (password masked). */
  onAttempt?: (url: string) => void;
  /** After each failed attempt, with the URL and the error (both masked). */
  onFailure: (url: string, error: Error) => void;
  /**
   * Whether a failure skips the rest of its round: for an error every node
   * would give alike (a cluster shares its configuration). @default {never}
   */
  endsRound?: (error: Error) => boolean;
  /**
   * After a round of attempts failed, with the last error: resolves `true` to
   * go round again (after a backoff, say), `false` to stop.
   */
  onRoundFailed: (error: Error) => Promise<boolean>;
}

/**
 * Tries the URLs, a round at a time in the order `order` gives (see
 * {@linkcode NodeOrder}), until one connects. Within a round the next URL is
 * tried at once; `onRoundFailed` is asked after each failed round.
 *
 * @returns What `open` returned and the index of its URL, or `undefined` when
 * the loop stopped (`signal`, or `onRoundFailed` said no). When the signal
 * aborts after `open` succeeded, the caller gets the value and closes it.
 */
export async function connectLoop<T>(
  urls: readonly string[],
  order: NodeOrder,
  open: (url: string) => Promise<T>,
  hooks: ConnectLoopHooks,
): Promise<{ value: T; index: number } | undefined> {
  const { signal, onAttempt, onFailure, endsRound, onRoundFailed } = hooks;
  while (!signal?.aborted) {
    let last: Error | undefined;
    for (const index of order.round()) {
      const url = urls[index];
      onAttempt?.(maskUrl(url));
      try {
        const value = await open(url);
        order.connected(index);
        return { value, index };
      } catch (cause) {
        if (signal?.aborted) return undefined;
        order.failed(index);
        // Our own error already has its URL masked; keep its class.
        last = cause instanceof BrokerConfigurationError ? cause : toError(cause);
        onFailure(maskUrl(url), last);
        if (endsRound?.(last)) break;
      }
    }
    if (last !== undefined && !await onRoundFailed(last)) break;
  }
  return undefined;
}

/**
 * The delay before the next round of connection attempts: exponential in the
 * rounds failed so far (`attempts` over the URL count), capped at `maxDelay`,
 * with equal jitter (never less than half the ceiling, so a flapping broker
 * is not hammered).
 */
export function reconnectDelay(
  attempts: number,
  urlCount: number,
  baseDelay: number,
  maxDelay: number,
): number {
  const rounds = Math.ceil(attempts / urlCount);
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** Math.min(rounds - 1, 30));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

/**
 * Closes a connection, best effort and within `graceMs` (none: the socket is
 * dropped at once); the socket is released either way.
 */
export async function closeQuietly(client: AMQPBaseClient, graceMs = 2_000): Promise<void> {
  const socket = (client as AMQPClient).socket;
  // `closed` is also true while the handshake is still under way.
  if (!client.closed && graceMs > 0) {
    try {
      // The client resolves close() only if connection.close-ok comes after its
      // own write callback; under Deno it often comes first, and close() never
      // resolves. The broker closes the socket after close-ok either way.
      const gone = new Promise<void>((resolve) => socket?.once("close", () => resolve()));
      await settleWithin(Promise.race([client.close(), gone]), graceMs);
    } catch {
      // The socket is already gone; closing is best effort.
    }
  }
  // A graceful close can hang on a stalled socket: make sure the socket is released.
  socket?.destroy();
}

/**
 * Runs `fn` on a fresh channel of `client`, closed afterwards. A refusal by
 * the broker (a passive declare of a missing queue, say) closes only that
 * channel and reaches the caller as `fn`'s rejection.
 */
export async function onChannel<T>(
  client: AMQPClient,
  fn: (channel: AMQPChannel) => Promise<T>,
): Promise<T> {
  const channel = await client.channel();
  channel.onerror = () => {};
  try {
    return await fn(channel);
  } finally {
    if (!channel.closed) await channel.close().catch(() => {});
  }
}
