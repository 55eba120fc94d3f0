// Workarounds for two flaws of @cloudamqp/amqp-client 4.1.1 (the latest
// release), found by our chaos and nack tests, and the one internal of it we
// read (the delivery tag of the next publish). All are confined to here.

import { type AMQPBaseClient, type AMQPChannel, AMQPError } from "@cloudamqp/amqp-client";
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
// messages it covers are never settled. We read the byte ourselves: every
// frame the client receives passes through its parseFrames(), where we note
// the true flag of each basic.nack just before the client acts on it, and
// the channel's publishConfirmed() hands our listener the corrected flag.

const BASIC = 60;
const BASIC_NACK = 120;

interface NoticedNack {
  channel: number;
  tag: number;
  multiple: boolean;
}

const noticed = new WeakMap<AMQPBaseClient, NoticedNack[]>();

function noticeNacks(client: AMQPBaseClient): NoticedNack[] {
  let nacks = noticed.get(client);
  if (nacks !== undefined) return nacks;
  const queue: NoticedNack[] = nacks = [];
  noticed.set(client, queue);
  const parser = client as unknown as { parseFrames(view: DataView): void };
  const parse = parser.parseFrames.bind(client);
  parser.parseFrames = (view: DataView) => {
    // A frame: type (1), channel (2), size (4), payload, end (1). A method
    // payload: class (2), method (2), then basic.nack's tag (8) and flags (1).
    for (let i = 0; i + 7 <= view.byteLength; i += view.getUint32(i + 3) + 8) {
      if (
        view.getUint8(i) === 1 && i + 20 <= view.byteLength &&
        view.getUint16(i + 7) === BASIC && view.getUint16(i + 9) === BASIC_NACK
      ) {
        queue.push({
          channel: view.getUint16(i + 1),
          tag: Number(view.getBigUint64(i + 11)),
          multiple: (view.getUint8(i + 19) & 1) === 1,
        });
      }
    }
    parse(view);
  };
  return queue;
}

/**
 * Calls `listener` with every publisher confirm on `channel`, nacks with
 * their true `multiple` flag (which the client, and then its own promises,
 * get too).
 */
export function onConfirm(
  channel: AMQPChannel,
  listener: (deliveryTag: number, multiple: boolean, nack: boolean) => void,
): void {
  const nacks = noticeNacks(channel.connection);
  const settle = channel.publishConfirmed.bind(channel);
  channel.publishConfirmed = (deliveryTag: number, multiple: boolean, nack: boolean) => {
    if (nack) {
      // Nacks of channels the client no longer knows never reach here: skip them.
      let found: NoticedNack | undefined;
      while (nacks.length > 0 && found === undefined) {
        const next = nacks.shift()!;
        if (next.channel === channel.id && next.tag === deliveryTag) found = next;
      }
      multiple = found?.multiple ?? multiple;
    }
    listener(deliveryTag, multiple, nack);
    settle(deliveryTag, multiple, nack);
  };
}

// 3. basicPublish() resolves with the publish's delivery tag only once the
// broker confirmed it; the tag is needed before, to pair every answer with
// its publish. The client numbers a publish synchronously when it is called,
// from an internal counter (1 after confirm.select), so the tag is the
// counter's value just before the call.

/** The delivery tag the next `basicPublish()` on `channel` will get. */
export function nextDeliveryTag(channel: AMQPChannel): number {
  return (channel as unknown as { confirmId: number }).confirmId;
}
