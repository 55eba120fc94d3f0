/**
 * The RabbitMQ transport, on `npm:@cloudamqp/amqp-client`: one connection,
 * one confirm channel, `mandatory` publishing, and reconnection with
 * exponential backoff across several broker URLs.
 *
 * @module
 */

import { maskCredentials, maskUrl } from "../_mask.ts";
import { type AMQPBaseClient, type AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import { deadline, delay, settleWithin } from "../_async.ts";
import { guardClient, treatNacksAsMultiple } from "./_workarounds.ts";
import { TransportError } from "../errors.ts";
import { type Logger, quietLogger } from "../logger.ts";
import type {
  ConnectionState,
  ConnectionStateChange,
  OutboundMessage,
  SendOutcome,
  Transport,
} from "./transport.ts";

/**
 * Options of {@linkcode AmqpTransport}.
 *
 * @example
 * ```ts
 * import type { AmqpTransportOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: AmqpTransportOptions = {
 *   urls: ["amqp://app:secret@rabbit-1:5672", "amqp://app:secret@rabbit-2:5672"],
 *   exchange: "domain-events",
 *   exchangeType: "topic",
 *   deadLetter: { exchange: "domain-events.dead-letter", queue: "domain-events.dead-letter" },
 *   connectTimeout: 5_000,
 * };
 * ```
 */
export interface AmqpTransportOptions {
  /** Broker URLs, tried in turn. */
  urls: readonly string[];
  /** The exchange to declare (durable). */
  exchange: string;
  /** Its type. @default {"topic"} */
  exchangeType?: string;
  /** Dead-letter exchange (fanout) and queue to declare and bind, if any. */
  deadLetter?: { exchange: string; queue: string };
  /** Heartbeat in seconds. @default {30} */
  heartbeat?: number;
  /** Connection name for the management UI. @default {"rabbitmq-publisher"} */
  connectionName?: string;
  /** First reconnection delay in ms. @default {500} */
  reconnectBaseDelay?: number;
  /** Longest reconnection delay in ms. @default {30000} */
  reconnectMaxDelay?: number;
  /** Longest wait for one connection attempt, in ms. @default {10000} */
  connectTimeout?: number;
  /** Where to log. @default {quietLogger} */
  logger?: Logger;
}

interface Session {
  client: AMQPClient;
  channel: AMQPChannel;
  // message_id of returned (unroutable) messages whose confirm has not been seen yet
  returned: Map<string, { code?: number; text?: string }>;
  lost: Promise<Error>;
  // Fails what is still unsettled in each send() on this session. A publish
  // whose socket write was cut can leave its promise pending for good, so a
  // lost session settles its sends itself rather than wait for the timeout.
  unsettled: Set<(error: TransportError) => void>;
}

const RETURN_CODE_NO_ROUTE = 312;

/**
 * A {@linkcode Transport} to RabbitMQ.
 *
 * @example
 * ```ts ignore
 * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
 *
 * const transport = new AmqpTransport({
 *   urls: ["amqp://guest:guest@localhost:5672"],
 *   exchange: "domain-events",
 * });
 * await transport.start();
 * const [outcome] = await transport.send([{
 *   exchange: "domain-events",
 *   routingKey: "user.created",
 *   body: "{}",
 *   properties: {
 *     contentType: "application/json",
 *     deliveryMode: 2,
 *     messageId: "1",
 *     type: "user.created",
 *     timestamp: Date.now(),
 *     headers: {},
 *   },
 * }], 5_000);
 * console.log(outcome.ok);
 * await transport.close();
 * ```
 */
export class AmqpTransport implements Transport {
  readonly #options: Required<Omit<AmqpTransportOptions, "deadLetter">> & {
    deadLetter?: { exchange: string; queue: string };
  };
  readonly #listeners = new Set<(change: ConnectionStateChange) => void>();
  readonly #stop = new AbortController();
  // Settles when close() is called: one listener for the transport's life,
  // raced against each session's loss (a per-session listener would pile up
  // on a flapping connection).
  readonly #stopped: Promise<Error> = new Promise((resolve) => {
    this.#stop.signal.addEventListener("abort", () => resolve(new Error("closed")), { once: true });
  });
  #state: ConnectionState = "disconnected";
  #session: Session | undefined;
  #attempts = 0;
  #urlIndex = 0;
  #url: string | undefined;
  #loop: Promise<void> | undefined;

  /**
   * Creates the transport; nothing connects until `start()`.
   *
   * @param options URLs, topology, heartbeat and reconnection delays.
   * @throws {RangeError} When no URL is given.
   *
   * @example
   * ```ts
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * try {
   *   new AmqpTransport({ urls: [], exchange: "domain-events" });
   * } catch (error) {
   *   console.log((error as RangeError).message); // 'urls' must name at least one broker
   * }
   * ```
   */
  constructor(options: AmqpTransportOptions) {
    if (options.urls.length === 0) throw new RangeError("'urls' must name at least one broker");
    this.#options = {
      exchangeType: "topic",
      heartbeat: 30,
      connectionName: "rabbitmq-publisher",
      reconnectBaseDelay: 500,
      reconnectMaxDelay: 30_000,
      connectTimeout: 10_000,
      logger: quietLogger,
      ...options,
    };
  }

  /**
   * The current connection state: `"disconnected"` before `start()`.
   *
   * @returns The state.
   *
   * @example
   * ```ts
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * console.log(transport.state); // "disconnected"
   * await transport.close();
   * console.log(transport.state); // "closed"
   * ```
   */
  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * Failed connection attempts since the last successful connect.
   *
   * @returns The count; 0 while connected.
   *
   * @example
   * ```ts ignore
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * if (!await transport.start()) console.log(`${transport.reconnectAttempts} failed attempts`);
   * await transport.close();
   * ```
   */
  get reconnectAttempts(): number {
    return this.#attempts;
  }

  /**
   * The URL of the current or last connection, password masked.
   *
   * @returns The URL, or `undefined` before the first attempt.
   *
   * @example
   * ```ts ignore
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://app:secret@localhost"], exchange: "x" });
   * await transport.start();
   * console.log(transport.url); // "amqp://app:***@localhost"
   * await transport.close();
   * ```
   */
  get url(): string | undefined {
    return this.#url;
  }

  /**
   * Starts the connection loop. It never gives up: after a failed first
   * pass it keeps reconnecting with backoff until `close()`. Calling it again
   * starts nothing new.
   *
   * @returns Resolves after the first pass through the URLs: `true` when connected.
   *
   * @example
   * ```ts ignore
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * const connected = await transport.start();
   * console.log(connected, transport.state); // true "connected"
   * await transport.close();
   * ```
   */
  start(): Promise<boolean> {
    if (this.#loop) return Promise.resolve(this.#state === "connected");
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#loop = this.#run(resolve);
    return promise;
  }

  /**
   * Adds a state listener. What a listener throws is logged, not rethrown.
   *
   * @param listener Called on every change.
   * @returns A function removing it.
   *
   * @example
   * ```ts
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * const stop = transport.onStateChange(({ from, to }) => console.log(`${from} -> ${to}`));
   * await transport.close(); // disconnected -> closed
   * stop();
   * ```
   */
  onStateChange(listener: (change: ConnectionStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Publishes messages (with `mandatory`) and waits for their confirms;
   * never rejects. When not connected or blocked, every message fails at once
   * with `sent: false`.
   *
   * @param messages The messages.
   * @param timeoutMs The longest wait for confirms.
   * @returns One outcome per message, in order.
   *
   * @example
   * ```ts
   * import { AmqpTransport, encodeEvent } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * const { routingKey, body, properties } = encodeEvent({ id: "evt-1", type: "t", data: {} });
   * // Not started, so not connected: the message is refused without being sent.
   * const [outcome] = await transport.send(
   *   [{ exchange: "domain-events", routingKey, body, properties }],
   *   5_000,
   * );
   * if (!outcome.ok) console.log(outcome.error.kind, outcome.error.sent); // "not-connected" false
   * await transport.close();
   * ```
   */
  send(messages: readonly OutboundMessage[], timeoutMs: number): Promise<SendOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    const session = this.#session;
    if (session === undefined || this.#state === "disconnected" || this.#state === "closed") {
      return Promise.resolve(
        failAll(messages, new TransportError("not-connected", "not connected", { sent: false })),
      );
    }
    if (session.client.blocked !== undefined) {
      const reason = `connection blocked by the broker: ${session.client.blocked}`;
      return Promise.resolve(
        failAll(messages, new TransportError("blocked", reason, { sent: false })),
      );
    }
    const outcomes: (SendOutcome | undefined)[] = new Array(messages.length);
    let pending = messages.length;
    const { promise, resolve } = Promise.withResolvers<SendOutcome[]>();
    const settle = (i: number, outcome: SendOutcome) => {
      if (outcomes[i] !== undefined) return;
      outcomes[i] = outcome;
      if (--pending === 0) {
        clearTimeout(timer);
        session.unsettled.delete(failRest);
        resolve(outcomes as SendOutcome[]);
      }
    };
    const failRest = (error: TransportError) => {
      for (let i = 0; i < messages.length; i++) settle(i, { ok: false, error });
    };
    session.unsettled.add(failRest);
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      failRest(
        new TransportError("timeout", `no publisher confirm within ${timeoutMs} ms`, {
          sent: true,
        }),
      );
    }, timeoutMs);
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      const properties = message.properties;
      session.channel.basicPublish(
        message.exchange,
        message.routingKey,
        message.body,
        { ...properties, timestamp: new Date(properties.timestamp) },
        true,
      ).then(
        () => {
          const returned = session.returned.get(properties.messageId);
          if (returned === undefined) return settle(i, { ok: true });
          session.returned.delete(properties.messageId);
          settle(i, {
            ok: false,
            error: new TransportError(
              "unroutable",
              `unroutable: exchange ${JSON.stringify(message.exchange)} has no queue bound for ` +
                `routing key ${JSON.stringify(message.routingKey)} (${
                  returned.text ?? "NO_ROUTE"
                })`,
              { code: returned.code ?? RETURN_CODE_NO_ROUTE, sent: true },
            ),
          });
        },
        (cause) => settle(i, { ok: false, error: toTransportError(cause) }),
      );
    }
    return promise;
  }

  /**
   * Closes the connection and stops reconnecting; sends still waiting for a
   * confirm fail as `connection-lost`. Calling it again does nothing.
   *
   * @returns Resolves once the connection is closed.
   *
   * @example
   * ```ts
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "domain-events" });
   * await transport.close();
   * console.log(transport.state); // "closed"
   * ```
   */
  async close(): Promise<void> {
    if (this.#state === "closed" && this.#stop.signal.aborted) return;
    this.#stop.abort();
    const session = this.#session;
    this.#session = undefined;
    if (session) await closeQuietly(session.client);
    await this.#loop;
    this.#setState("closed");
  }

  async #run(firstPass: (connected: boolean) => void): Promise<void> {
    const { urls, logger } = this.#options;
    let failuresInPass = 0;
    let reported = false;
    const report = (connected: boolean) => {
      if (!reported) firstPass(connected);
      reported = true;
    };
    while (!this.#stop.signal.aborted) {
      const url = urls[this.#urlIndex % urls.length];
      this.#url = maskUrl(url);
      this.#setState("connecting");
      let session: Session;
      try {
        session = await this.#connect(url);
      } catch (cause) {
        if (this.#stop.signal.aborted) break;
        this.#attempts++;
        failuresInPass++;
        this.#urlIndex++;
        const error = toError(cause);
        this.#setState("disconnected", error);
        logger.warn(`RabbitMQ connection to ${this.#url} failed: ${error.message}`);
        if (failuresInPass >= urls.length) report(false);
        // Several URLs: the next one is tried at once, the backoff applies per full round.
        if (this.#urlIndex % urls.length !== 0) continue;
        await delay(this.#backoff(), this.#stop.signal);
        continue;
      }
      if (this.#stop.signal.aborted) {
        // close() came while this attempt was under way: it never saw the session.
        await closeQuietly(session.client);
        break;
      }
      this.#attempts = 0;
      failuresInPass = 0;
      this.#session = session;
      this.#setState(session.client.blocked !== undefined ? "blocked" : "connected");
      logger.info(`RabbitMQ connected to ${this.#url}`);
      report(true);
      const error = await Promise.race([session.lost, this.#stopped]);
      if (this.#session === session) this.#session = undefined;
      const lostError = new TransportError(
        "connection-lost",
        `connection lost before the confirm: ${error.message}`,
        { sent: true, cause: error },
      );
      for (const failRest of [...session.unsettled]) failRest(lostError);
      await closeQuietly(session.client);
      if (this.#stop.signal.aborted) break;
      logger.warn(`RabbitMQ connection to ${this.#url} lost: ${maskCredentials(error.message)}`);
      this.#setState("disconnected", error);
      // After a loss, the same URL is tried first: it was good a moment ago.
    }
    report(false);
  }

  async #connect(url: string): Promise<Session> {
    const { heartbeat, connectionName, connectTimeout, exchange, exchangeType, deadLetter } =
      this.#options;
    const target = new URL(url);
    if (!target.searchParams.has("heartbeat")) {
      target.searchParams.set("heartbeat", String(heartbeat));
    }
    if (!target.searchParams.has("name")) target.searchParams.set("name", connectionName);
    const client = new AMQPClient(target.toString());
    guardClient(client);
    const lost = Promise.withResolvers<Error>();
    client.onerror = (error) => lost.resolve(toError(error));
    client.ondisconnect = (error) => lost.resolve(toError(error ?? new Error("connection closed")));
    client.onblocked = (reason) => {
      this.#options.logger.warn(`RabbitMQ blocked publishing: ${reason}`);
      this.#setState("blocked");
    };
    client.onunblocked = () => {
      this.#options.logger.info("RabbitMQ unblocked publishing");
      if (this.#state === "blocked") this.#setState("connected");
    };
    try {
      const channel = await deadline(
        (async () => {
          await client.connect();
          const channel = await client.channel();
          await channel.confirmSelect();
          treatNacksAsMultiple(channel);
          await channel.exchangeDeclare(exchange, exchangeType, { durable: true });
          if (deadLetter) {
            await channel.exchangeDeclare(deadLetter.exchange, "fanout", { durable: true });
            await channel.queueDeclare(deadLetter.queue, { durable: true });
            await channel.queueBind(deadLetter.queue, deadLetter.exchange, "");
          }
          return channel;
        })(),
        connectTimeout,
        () => new Error(`connection attempt timed out after ${connectTimeout} ms`),
      );
      const returned = new Map<string, { code?: number; text?: string }>();
      channel.onReturn = (message) => {
        const id = message.properties.messageId;
        if (id !== undefined) {
          returned.set(id, { code: message.replyCode, text: message.replyText });
        }
      };
      channel.onerror = (reason) => lost.resolve(new Error(`channel closed: ${reason}`));
      return { client, channel, returned, lost: lost.promise, unsettled: new Set() };
    } catch (error) {
      await closeQuietly(client);
      throw error;
    }
  }

  #backoff(): number {
    const { reconnectBaseDelay, reconnectMaxDelay } = this.#options;
    const rounds = Math.ceil(this.#attempts / this.#options.urls.length);
    const ceiling = Math.min(reconnectMaxDelay, reconnectBaseDelay * 2 ** Math.min(rounds - 1, 30));
    // Equal jitter: never less than half the ceiling, so a flapping broker is not hammered.
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  }

  #setState(to: ConnectionState, error?: Error): void {
    const from = this.#state;
    if (from === to || from === "closed") return;
    this.#state = to;
    const change: ConnectionStateChange = { from, to, at: Date.now(), url: this.#url };
    if (error) change.error = error;
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (listenerError) {
        this.#options.logger.error("connection state listener failed", listenerError);
      }
    }
  }
}

function failAll(messages: readonly OutboundMessage[], error: TransportError): SendOutcome[] {
  return messages.map(() => ({ ok: false, error }));
}

function toError(cause: unknown): Error {
  const error = cause instanceof Error ? cause : new Error(String(cause));
  const message = maskCredentials(error.message);
  if (message === error.message) return error;
  return new Error(message, { cause: error.name });
}

const REPLY_CODE = /\((\d{3})\)\s*$/;

function toTransportError(cause: unknown): TransportError {
  const error = toError(cause);
  const message = error.message;
  if (message === "Message rejected") {
    return new TransportError("nack", "the broker rejected the message (basic.nack)", {
      sent: true,
      cause: error,
    });
  }
  if (/blocked/i.test(message)) {
    return new TransportError("blocked", message, { sent: false, cause: error });
  }
  const code = REPLY_CODE.exec(message)?.[1];
  if (code !== undefined) {
    return new TransportError("closed-by-broker", message, {
      code: Number(code),
      sent: true,
      cause: error,
    });
  }
  return new TransportError("connection-lost", message, { sent: true, cause: error });
}

async function closeQuietly(client: AMQPBaseClient): Promise<void> {
  if (client.closed) return;
  try {
    await settleWithin(client.close(), 2_000);
  } catch {
    // The socket is already gone; closing is best effort.
  }
  // A graceful close can hang on a stalled socket: make sure the socket is released.
  (client as AMQPClient).socket?.destroy();
}
