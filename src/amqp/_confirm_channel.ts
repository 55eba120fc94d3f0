// One channel in confirm mode and the publish path on it: `mandatory`
// publishing, returns paired with their messages, acks, nacks and the publish
// timeout, each message getting its own outcome. The transport sends events
// on it; dead-letter replay republishes on it.

import type { AMQPChannel, AMQPClient, AMQPProperties } from "@cloudamqp/amqp-client";
import { withResolvers } from "../_async.ts";
import { TransportError } from "../errors.ts";
import { toTransportError } from "./_errors.ts";
import { treatNacksAsMultiple } from "./_workarounds.ts";
import type { SendOutcome } from "./transport.ts";

/** One message to publish: AMQP properties with the timestamp in ms since the epoch. */
export interface ConfirmMessage {
  exchange: string;
  routingKey: string;
  body: string;
  properties: Omit<AMQPProperties, "timestamp"> & { timestamp?: number };
}

const RETURN_CODE_NO_ROUTE = 312;

/** A confirm-mode channel that publishes with `mandatory` and settles each message. */
export class ConfirmChannel {
  /** The channel, for declares on the same channel. */
  readonly channel: AMQPChannel;
  // message_id of returned (unroutable) messages whose confirm has not been seen yet
  readonly #returned = new Map<string, { code?: number; text?: string }>();
  // Fails what is still unsettled in each publish() call. A publish whose
  // socket write was cut can leave its promise pending for good, so a lost
  // connection settles its publishes itself rather than wait for the timeout.
  readonly #unsettled = new Set<(error: TransportError) => void>();

  private constructor(channel: AMQPChannel) {
    this.channel = channel;
    channel.onReturn = (message) => {
      this.#returned.set(message.properties.messageId ?? "", {
        code: message.replyCode,
        text: message.replyText,
      });
    };
  }

  /**
   * Opens a channel on `client` and puts it in confirm mode.
   *
   * @param onClose Called with the broker's reason when the channel closes
   * with an error; each publish waiting on it fails with that reason anyway.
   */
  static async open(
    client: AMQPClient,
    onClose: (reason: string) => void = () => {},
  ): Promise<ConfirmChannel> {
    const channel = await client.channel();
    channel.onerror = onClose;
    await channel.confirmSelect();
    treatNacksAsMultiple(channel);
    return new ConfirmChannel(channel);
  }

  /** Whether the channel is closed. */
  get closed(): boolean {
    return this.channel.closed;
  }

  /**
   * Publishes the messages with `mandatory` and waits for their confirms;
   * never rejects. A returned message fails as `unroutable`, a nacked one as
   * `nack`; what is not confirmed within `timeoutMs` fails as `timeout`.
   *
   * @returns One outcome per message, in order.
   */
  publish(messages: readonly ConfirmMessage[], timeoutMs: number): Promise<SendOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    const outcomes: (SendOutcome | undefined)[] = new Array(messages.length);
    let pending = messages.length;
    const { promise, resolve } = withResolvers<SendOutcome[]>();
    const settle = (i: number, outcome: SendOutcome) => {
      if (outcomes[i] !== undefined) return;
      outcomes[i] = outcome;
      // A message that failed before its confirm may have been returned first.
      if (!outcome.ok) this.#returned.delete(messages[i].properties.messageId ?? "");
      if (--pending === 0) {
        clearTimeout(timer);
        this.#unsettled.delete(failRest);
        resolve(outcomes as SendOutcome[]);
      }
    };
    const failRest = (error: TransportError) => {
      for (let i = 0; i < messages.length; i++) settle(i, { ok: false, error });
    };
    this.#unsettled.add(failRest);
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      failRest(
        new TransportError("timeout", `no publisher confirm within ${timeoutMs} ms`, {
          sent: true,
        }),
      );
    }, timeoutMs);
    for (let i = 0; i < messages.length; i++) {
      const { exchange, routingKey, body, properties } = messages[i];
      const { timestamp } = properties;
      this.channel.basicPublish(
        exchange,
        routingKey,
        body,
        { ...properties, timestamp: timestamp === undefined ? undefined : new Date(timestamp) },
        true,
      ).then(
        () => settle(i, this.#confirmed(messages[i])),
        (cause) => settle(i, { ok: false, error: toTransportError(cause) }),
      );
    }
    return promise;
  }

  /** Fails every message still waiting for its confirm, for example when the connection is lost. */
  failPending(error: TransportError): void {
    for (const failRest of [...this.#unsettled]) failRest(error);
  }

  /** Closes the channel, best effort. */
  async close(): Promise<void> {
    if (!this.channel.closed) await this.channel.close().catch(() => {});
  }

  /** The outcome of a confirmed message: a `basic.return` comes before its ack. */
  #confirmed(message: ConfirmMessage): SendOutcome {
    const key = message.properties.messageId ?? "";
    const returned = this.#returned.get(key);
    if (returned === undefined) return { ok: true };
    this.#returned.delete(key);
    return {
      ok: false,
      error: new TransportError(
        "unroutable",
        `unroutable: exchange ${JSON.stringify(message.exchange)} has no queue bound for ` +
          `routing key ${JSON.stringify(message.routingKey)} (${returned.text ?? "NO_ROUTE"})`,
        { code: returned.code ?? RETURN_CODE_NO_ROUTE, sent: true },
      ),
    };
  }
}
