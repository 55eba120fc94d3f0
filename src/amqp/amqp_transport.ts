/**
 * The RabbitMQ transport, on `npm:@cloudamqp/amqp-client`: one connection,
 * one confirm channel (replaced on the same connection when the broker
 * closes it over one message, or nacks every publish on it), `mandatory`
 * publishing, `connection.blocked` honoured, and reconnection with
 * exponential backoff across several broker URLs (the nodes of a cluster),
 * round-robin from a random start. The dead-letter queue is declared apart
 * from the connection, so a node holding it can be down without stopping
 * anything but dead letters.
 *
 * @module
 */

import type { AMQPClient } from "@cloudamqp/amqp-client";
import { delay, withResolvers } from "../_async.ts";
import type { DeadLetterQueueType } from "../config/types.ts";
import { BrokerConfigurationError, TransportError } from "../errors.ts";
import { type Logger, quietLogger } from "../logger.ts";
import type {
  ConnectionState,
  ConnectionStateChange,
  OutboundMessage,
  SendOptions,
  SendOutcome,
  Transport,
} from "./transport.ts";
import { type ChannelClose, ConfirmChannel } from "./_confirm_channel.ts";
import { closeQuietly, connect, connectLoop, reconnectDelay } from "./_connection.ts";
import { DeadLetterTopology } from "./_dead_letter_topology.ts";
import { failAll, notConnected, publishOn, replaceChannel, type Session } from "./_session.ts";
import { replyCodeIn, toConfigurationError, toError } from "./_errors.ts";
import { NodeOrder } from "./_node_order.ts";

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
 *   deadLetter: {
 *     exchange: "domain-events.dead-letter",
 *     queue: "domain-events.dead-letter",
 *     queueType: "quorum",
 *   },
 *   connectTimeout: 5_000,
 * };
 * ```
 */
export interface AmqpTransportOptions {
  /**
   * Broker URLs, the nodes of a cluster, tried round-robin: the first
   * connection starts at a random one (so several publishers spread over the
   * nodes); after a loss the next node is tried first and the lost one last;
   * nodes whose last attempt failed come after the others.
   */
  urls: readonly string[];
  /** The exchange to declare (durable) on every connect. */
  exchange: string;
  /** Its type. @default {"topic"} */
  exchangeType?: string;
  /**
   * The dead-letter exchange (fanout) and queue, if any. They are declared
   * and bound on a channel of their own before the first send to that
   * exchange on each connection, never while connecting: while they cannot
   * be declared, only sends to the dead-letter exchange fail (`sent: false`).
   * An existing exchange or queue with other arguments is used as it is,
   * with one warning. The queue's type when it is created: `queueType`,
   * `"quorum"` unless given (see {@linkcode DeadLetterQueueType}).
   */
  deadLetter?: { exchange: string; queue: string; queueType?: DeadLetterQueueType };
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
  readonly #options: Required<Omit<AmqpTransportOptions, "deadLetter">>;
  readonly #deadLetters: DeadLetterTopology | undefined;
  readonly #listeners = new Set<(change: ConnectionStateChange) => void>();
  readonly #stop = new AbortController();
  // Settles when close() is called: one listener for the transport's life,
  // raced against each session's loss (a per-session listener would pile up
  // on a flapping connection).
  readonly #stopped: Promise<Error> = new Promise((resolve) => {
    this.#stop.signal.addEventListener("abort", () => resolve(new Error("closed")), { once: true });
  });
  #state: ConnectionState = "disconnected";
  #blockedReason: string | undefined;
  #session: Session | undefined;
  #attempts = 0;
  readonly #order: NodeOrder;
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
    const { deadLetter, ...rest } = options;
    this.#options = {
      exchangeType: "topic",
      heartbeat: 30,
      connectionName: "rabbitmq-publisher",
      reconnectBaseDelay: 500,
      reconnectMaxDelay: 30_000,
      connectTimeout: 10_000,
      logger: quietLogger,
      ...rest,
    };
    this.#deadLetters = deadLetter &&
      new DeadLetterTopology(deadLetter, this.#options.logger, this.#options.connectTimeout);
    this.#order = new NodeOrder(options.urls.length);
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
   * The URL of the current or last connection (the node of a cluster),
   * password masked.
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
   * While blocked: the reason the broker gave in `connection.blocked`.
   *
   * @returns The reason (for example `"low on memory"`), or `undefined` when not blocked.
   *
   * @example
   * ```ts ignore
   * import { AmqpTransport } from "@simplycaster/rabbitmq-publisher";
   *
   * const transport = new AmqpTransport({ urls: ["amqp://localhost"], exchange: "x" });
   * await transport.start();
   * if (transport.state === "blocked") console.warn(`blocked: ${transport.blockedReason}`);
   * await transport.close();
   * ```
   */
  get blockedReason(): string | undefined {
    return this.#state === "blocked" ? this.#blockedReason : undefined;
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
    const { promise, resolve } = withResolvers<boolean>();
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
   * with `sent: false`. Each message is settled by its own delivery tag; one
   * the broker refused by closing the channel fails alone (`closed-by-broker`),
   * the others on that channel as `channel-closed`, and the channel is
   * reopened on the same connection. While blocked, the wait for confirms
   * already due does not count towards `timeoutMs`.
   *
   * @param messages The messages.
   * @param timeoutMs The longest wait for confirms.
   * @param options `onOutcome`, told each outcome as it comes.
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
  send(
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options: SendOptions = {},
  ): Promise<SendOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    const session = this.#session;
    if (session === undefined || this.#state === "disconnected" || this.#state === "closed") {
      return Promise.resolve(failAll(messages, notConnected(), options));
    }
    if (session.client.blocked !== undefined) {
      const reason = `connection blocked by the broker: ${session.client.blocked}`;
      return Promise.resolve(
        failAll(messages, new TransportError("blocked", reason, { sent: false }), options),
      );
    }
    const deadLetters = this.#deadLetters;
    if (deadLetters && messages.some((m) => m.exchange === deadLetters.target.exchange)) {
      return this.#sendWithDeadLetters(session, deadLetters, messages, timeoutMs, options);
    }
    return publishOn(session, messages, timeoutMs, options.onOutcome);
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
    // A blocked connection is not read by the broker: no close handshake would complete.
    if (session) await closeQuietly(session.client, this.#state === "blocked" ? 0 : undefined);
    await this.#loop;
    this.#setState("closed");
  }

  /**
   * Sends a batch holding dead letters: they go out once the dead-letter
   * queue is declared on this connection, and fail without being sent while
   * it cannot be; the batch's other messages go out either way.
   */
  async #sendWithDeadLetters(
    session: Session,
    deadLetters: DeadLetterTopology,
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options: SendOptions,
  ): Promise<SendOutcome[]> {
    const problem = await deadLetters.ensure(session.client);
    if (problem === undefined) {
      return publishOn(session, messages, timeoutMs, options.onOutcome);
    }
    const { exchange, queue } = deadLetters.target;
    const refused: SendOutcome = {
      ok: false,
      error: new TransportError(
        "closed-by-broker",
        `the dead-letter queue ${JSON.stringify(queue)} is not available: ${problem.message}`,
        { code: replyCodeIn(problem.message), sent: false, cause: problem },
      ),
    };
    const others: number[] = [];
    messages.forEach((m, i) => {
      if (m.exchange !== exchange) others.push(i);
      else options.onOutcome?.(i, refused);
    });
    const sent = await publishOn(
      session,
      others.map((i) => messages[i]),
      timeoutMs,
      options.onOutcome && ((j, outcome) => options.onOutcome!(others[j], outcome)),
    );
    const outcomes: SendOutcome[] = messages.map(() => refused);
    others.forEach((i, j) => outcomes[i] = sent[j]);
    return outcomes;
  }

  async #run(firstPass: (connected: boolean) => void): Promise<void> {
    const { urls, logger } = this.#options;
    const signal = this.#stop.signal;
    let failuresInPass = 0;
    let reported = false;
    const report = (connected: boolean) => {
      if (!reported) firstPass(connected);
      reported = true;
    };
    while (!signal.aborted) {
      const { reconnectBaseDelay, reconnectMaxDelay } = this.#options;
      const connected = await connectLoop(urls, this.#order, (url) => this.#connect(url), {
        signal,
        onAttempt: (url) => {
          this.#url = url;
          this.#setState("connecting");
        },
        onFailure: (url, error) => {
          this.#attempts++;
          failuresInPass++;
          this.#setState("disconnected", error);
          if (error instanceof BrokerConfigurationError) {
            logger.error(`${error.message}. Next attempt in ${reconnectMaxDelay} ms`);
            report(false);
            return;
          }
          logger.warn(`RabbitMQ connection to ${url} failed: ${error.message}`);
          if (failuresInPass >= urls.length) report(false);
        },
        // Every node of a cluster shares its configuration: wait, then try the next.
        endsRound: (error) => error instanceof BrokerConfigurationError,
        onRoundFailed: async (error) => {
          await delay(
            error instanceof BrokerConfigurationError
              ? reconnectMaxDelay
              : reconnectDelay(this.#attempts, urls.length, reconnectBaseDelay, reconnectMaxDelay),
            signal,
          );
          return true;
        },
      });
      if (connected === undefined) break;
      const { value: session, index } = connected;
      if (signal.aborted) {
        // close() came while this attempt was under way: it never saw the session.
        await closeQuietly(session.client);
        break;
      }
      this.#attempts = 0;
      failuresInPass = 0;
      this.#session = session;
      this.#blockedReason = session.client.blocked;
      if (this.#blockedReason !== undefined) session.channel.pause();
      this.#setState(this.#blockedReason !== undefined ? "blocked" : "connected");
      logger.info(`RabbitMQ connected to ${this.#url}`);
      report(true);
      const error = await Promise.race([session.lost, this.#stopped]);
      if (this.#session === session) this.#session = undefined;
      session.channel.failPending(
        new TransportError(
          "connection-lost",
          `connection lost before the confirm: ${error.message}`,
          {
            sent: true,
            cause: error,
          },
        ),
      );
      await closeQuietly(session.client, session.client.blocked === undefined ? undefined : 0);
      if (signal.aborted) break;
      this.#order.lost(index);
      logger.warn(`RabbitMQ connection to ${this.#url} lost: ${toError(error).message}`);
      this.#setState("disconnected", error);
    }
    report(false);
  }

  #connect(url: string): Promise<Session> {
    const { heartbeat, connectionName, connectTimeout, exchange, exchangeType, logger } =
      this.#options;
    const lost = withResolvers<Error>();
    let session: Session | undefined;
    const prepare = (client: AMQPClient) => {
      client.onerror = (error) => lost.resolve(toError(error));
      client.ondisconnect = (error) =>
        lost.resolve(toError(error ?? new Error("connection closed")));
      client.onblocked = (reason) => {
        logger.warn(`RabbitMQ blocked publishing: ${reason}`);
        // Nothing more is written; what was written waits, its timeout stopped.
        session?.channel.pause();
        if (this.#session !== session) return;
        this.#blockedReason = reason;
        this.#setState("blocked");
      };
      client.onunblocked = () => {
        logger.info("RabbitMQ unblocked publishing");
        session?.channel.resume();
        if (this.#session !== session) return;
        this.#blockedReason = undefined;
        if (this.#state === "blocked") this.#setState("connected");
      };
    };
    const onClose = (close: ChannelClose) => {
      // A lost connection is handled by the connection loop.
      if (!close.channelOnly || session === undefined || session.client.closed) return;
      replaceChannel(session, close.reason);
    };
    return connect(url, { connectionName, heartbeat, connectTimeout, prepare }, async (client) => {
      const confirm = await ConfirmChannel.open(client, (close) => {
        // During the declares a closed channel fails the attempt.
        if (session === undefined) lost.resolve(new Error(`channel closed: ${close.reason}`));
        else onClose(close);
      });
      // Only the exchange: an exchange has no home node, so no node's loss fails this.
      await confirm.channel.exchangeDeclare(exchange, exchangeType, { durable: true });
      session = {
        client,
        channel: confirm,
        lost: lost.promise,
        onClose,
        options: { logger, exchange, exchangeType },
      };
      return session;
    }).catch((cause) => {
      throw toConfigurationError(cause, url, exchange) ?? cause;
    });
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
