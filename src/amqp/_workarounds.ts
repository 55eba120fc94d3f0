// A workaround for a flaw of @cloudamqp/amqp-client 4.1.1 (the latest
// release), found by our nack tests, and the internals of it we read and
// advance (the delivery tag of the next publish, the client's own list of
// unconfirmed publishes). All are confined to here. (Until we wrote the
// publish frames ourselves, a second workaround swallowed the confirm
// promises basicPublish() left rejected with nobody listening when the
// connection closed mid-write; we no longer call basicPublish().)

import type { AMQPBaseClient, AMQPChannel } from "@cloudamqp/amqp-client";

// 1. The client reads basic.nack's flags byte as `byte === 1` for "multiple",
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
  const pending = channel as unknown as { unconfirmedPublishes: unknown[] };
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
    // Our publishes are not in the client's list (it would log each as unknown).
    if (pending.unconfirmedPublishes.length > 0) settle(deliveryTag, multiple, nack);
  };
}

// 2. We write the frames of basic.publish ourselves (see _publish_frames.ts)
// and pair every answer with its publish by delivery tag. RabbitMQ numbers
// the publishes of a confirm-mode channel 1, 2, 3, ...; the client keeps
// that count in an internal counter (1 after confirm.select) that its own
// basicPublish() advances, so publishes of ours take their tags from it too.

/** The delivery tag the next publish on `channel` will get. */
export function nextDeliveryTag(channel: AMQPChannel): number {
  return (channel as unknown as { confirmId: number }).confirmId;
}

/** Numbers the next publish on `channel`: its delivery tag. */
export function takeDeliveryTag(channel: AMQPChannel): number {
  return (channel as unknown as { confirmId: number }).confirmId++;
}
