// Workarounds for two flaws of @cloudamqp/amqp-client 4.1.1 (the latest
// release), found by our chaos and nack tests. Both are confined to here.

import { type AMQPChannel, AMQPError } from "@cloudamqp/amqp-client";
import { onUnhandledRejection } from "../_runtime.ts";

// 1. In confirm mode, basicPublish() creates the confirm promise before the
// socket write, and if the connection closes while the write is pending,
// that promise is rejected with nobody listening. The caller has handled
// every promise it was given, yet Deno (or Node) would end the process on the
// "unhandled" rejection. We swallow exactly those rejections: AMQPErrors
// raised on a connection of ours. The publish itself is already settled as
// failed through the promise we hold.

const guarded = new WeakSet<object>();
let installed = false;

function ours(reason: unknown): boolean {
  return reason instanceof AMQPError && guarded.has(reason.connection);
}

/** Marks a client's orphaned confirm rejections as handled, for its whole life. */
export function guardClient(client: object): void {
  guarded.add(client);
  if (installed) return;
  // Installed once and never removed: a rejection can surface after close().
  onUnhandledRejection(ours);
  installed = true;
}

// 2. The client reads basic.nack's flags byte as `byte === 1` for "multiple",
// but RabbitMQ also sets the requeue bit on every nack it sends publishers,
// so a multiple nack (byte 3) is taken for a single one and the earlier
// messages it covers are never settled: their publishes hang until our
// publish timeout. We cannot see the byte, so every nack is treated as
// multiple. That is safe for at-least-once delivery: at worst a message that
// would later have been acked is reported failed and sent again (a
// duplicate, never a loss); RabbitMQ confirms one queue's messages in order,
// so in practice the earlier unsettled messages were nacked too.

/** Makes every publisher nack on `channel` settle the earlier unconfirmed messages too. */
export function treatNacksAsMultiple(channel: AMQPChannel): void {
  const settle = channel.publishConfirmed.bind(channel);
  channel.publishConfirmed = (deliveryTag: number, multiple: boolean, nack: boolean) =>
    settle(deliveryTag, multiple || nack, nack);
}
