// A session of the transport: one connection and its confirm channel, which
// is replaced on the same connection when the broker closes it over one
// message or nacks every publish on it; sends wait for the replacement.

import type { AMQPClient } from "@cloudamqp/amqp-client";
import { TransportError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { OutboundMessage, SendOptions, SendOutcome } from "./transport.ts";
import { type ChannelClose, ConfirmChannel } from "./_confirm_channel.ts";
import { closeQuietly } from "./_connection.ts";
import { toError } from "./_errors.ts";

/** One connection and its confirm channel, replaced on the same connection when needed. */
export interface Session {
  client: AMQPClient;
  channel: ConfirmChannel;
  lost: Promise<Error>;
  // What every channel of the session calls when the broker closes it.
  onClose: (close: ChannelClose) => void;
  // While the channel is being replaced with a new one.
  reopening?: Promise<ConfirmChannel | undefined>;
  // What a new channel needs: the exchange to declare again, and where to log.
  options: { logger: Logger; exchange: string; exchangeType: string };
  // The exchange is declared again at most once per connection, when the broker says it is gone.
  redeclared?: boolean;
}

/**
 * Publishes on the session's channel, or on the one replacing it once it is
 * open. A channel the broker has only nacked so far is replaced first (see
 * {@linkcode replaceChannel}).
 */
export function publishOn(
  session: Session,
  messages: readonly OutboundMessage[],
  timeoutMs: number,
  onOutcome: SendOptions["onOutcome"],
): Promise<SendOutcome[]> {
  if (session.reopening === undefined && session.channel.refusedOnly) {
    replaceChannel(session);
  }
  if (session.reopening === undefined) {
    return session.channel.publish(messages, timeoutMs, onOutcome);
  }
  return session.reopening.then((channel) =>
    channel === undefined
      ? failAll(messages, notConnected(), { onOutcome })
      : channel.publish(messages, timeoutMs, onOutcome)
  );
}

/**
 * A new channel on the same connection, for the messages that go again:
 * after the broker closed the channel over one message (`closedOver`: the
 * exchange is declared again first when the broker said it is missing, once
 * per connection), or before the next send after it nacked publishes on it
 * and confirmed none. RabbitMQ 3.10 refuses every publish of a channel
 * whose first publish to a quorum queue came while the node it took for
 * the queue's leader was down (a connection to a survivor opened right
 * after the leader's node was lost, before the new leader is known); that
 * channel stays refused until the node is back, a new one is not. The
 * replaced channel is closed once its publishes have their outcomes.
 */
export function replaceChannel(session: Session, closedOver?: string): void {
  if (session.reopening !== undefined) return;
  const { logger, exchange, exchangeType } = session.options;
  logger.warn(
    closedOver === undefined
      ? "RabbitMQ nacked every publish on the channel; opening a new one on the same connection"
      : `RabbitMQ closed the channel (${closedOver}); opening a new one on the same connection`,
  );
  const redeclare = closedOver !== undefined && !session.redeclared &&
    closedOver.includes(`no exchange '${exchange}'`);
  session.redeclared ||= redeclare;
  const replaced = session.channel;
  const reopening = (async () => {
    try {
      const confirm = await ConfirmChannel.open(session.client, session.onClose);
      if (redeclare) {
        await confirm.channel.exchangeDeclare(exchange, exchangeType, { durable: true });
      }
      if (session.client.blocked !== undefined) confirm.pause();
      session.channel = confirm;
      replaced.retire();
      return confirm;
    } catch (error) {
      // The connection went too, or the declare failed: the connection loop takes over.
      logger.warn(`RabbitMQ channel could not be reopened: ${toError(error).message}`);
      if (!session.client.closed) await closeQuietly(session.client);
      return undefined;
    } finally {
      session.reopening = undefined;
    }
  })();
  session.reopening = reopening;
}

export function failAll(
  messages: readonly OutboundMessage[],
  error: TransportError,
  options: SendOptions,
): SendOutcome[] {
  const outcomes: SendOutcome[] = messages.map(() => ({ ok: false, error }));
  outcomes.forEach((outcome, i) => options.onOutcome?.(i, outcome));
  return outcomes;
}

export function notConnected(): TransportError {
  return new TransportError("not-connected", "not connected", { sent: false });
}
