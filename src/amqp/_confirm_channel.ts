// One channel in confirm mode and the publish path on it: `mandatory`
// publishing, each message settled on its own by delivery tag (the
// ConfirmTracker pairs acks, nacks, returns and refusals with publishes),
// the publish timeout (which stops while the connection is blocked), and the
// writes of one call coalesced into one socket write. The transport sends
// events on it; dead-letter replay republishes on it.

import type { AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import { withResolvers } from "../_async.ts";
import { TransportError } from "../errors.ts";
import { ConfirmTracker } from "./_confirm_tracker.ts";
import { toTransportError } from "./_errors.ts";
import { nextDeliveryTag, onConfirm, takeDeliveryTag } from "./_workarounds.ts";
import { FrameEncodeError, PublishFrames, type PublishProperties } from "./_publish_frames.ts";
import type { SendOutcome } from "./transport.ts";

/** One message to publish: AMQP properties with the timestamp in ms since the epoch. */
export interface ConfirmMessage {
  exchange: string;
  routingKey: string;
  body: string;
  properties: PublishProperties;
}

/** Why a confirm channel closed: over one publish the broker refused, or with its connection. */
export interface ChannelClose {
  /** The reason as the client reports it. */
  reason: string;
  /** Whether the broker closed this channel alone; `false` when the connection went. */
  channelOnly: boolean;
}

/** The deadline of one publish() call, which stops while the connection is blocked. */
interface Deadline {
  /** When it runs out (ms since the epoch); undefined while paused. */
  dueAt?: number;
  /** The time it has left while paused. */
  leftMs: number;
  expire: () => void;
}

const CHANNEL_CLOSE = /^channel \d+ closed:/;
// Room for a message's frames beside its body (an event's method and header
// frames take ~250 bytes); the buffer grows when it is short.
const FRAMES_BYTES = 512;
// The largest buffer kept for reuse between calls.
const SPARE_MAX = 8 * 1024 * 1024;

/** A confirm-mode channel that publishes with `mandatory` and settles each message. */
export class ConfirmChannel {
  /** The channel, for declares on the same channel. */
  readonly channel: AMQPChannel;
  readonly #tracker = new ConfirmTracker();
  readonly #deadlines = new Set<Deadline>();
  // One timer for all the deadlines, set for the earliest: a timer per call
  // costs more than the rest of a small batch's bookkeeping.
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #paused = false;
  // The buffer of a call whose frames were written out, for the next call:
  // a large buffer made anew for every call costs more than its frames.
  #spare: Uint8Array | undefined;
  // Replaced by a new channel: closed once its last publish() call has settled.
  #retired = false;

  private constructor(channel: AMQPChannel, onClose: (close: ChannelClose) => void) {
    this.channel = channel;
    onConfirm(channel, (tag, multiple, nack) => {
      if (nack) this.#tracker.nack(tag, multiple);
      else this.#tracker.ack(tag, multiple);
    });
    channel.onReturn = (message) => {
      this.#tracker.returned(
        {
          exchange: message.exchange,
          routingKey: message.routingKey,
          messageId: message.properties.messageId,
          body: message.bodyToString() ?? "",
        },
        message.replyCode ?? 0,
        message.replyText ?? "",
      );
    };
    // The client calls this when the broker closed the channel or the connection.
    channel.onerror = (reason) => {
      const channelOnly = CHANNEL_CLOSE.test(reason);
      if (channelOnly) this.#tracker.closed(reason);
      else {
        this.#tracker.failAll(
          new TransportError("connection-lost", `connection lost before the confirm: ${reason}`, {
            sent: true,
          }),
        );
      }
      onClose({ reason, channelOnly });
    };
  }

  /**
   * Opens a channel on `client` and puts it in confirm mode.
   *
   * @param onClose Called once the broker closed the channel (or its
   * connection), after every publish waiting on it was settled.
   */
  static async open(
    client: AMQPClient,
    onClose: (close: ChannelClose) => void = () => {},
  ): Promise<ConfirmChannel> {
    const channel = await client.channel();
    const confirm = new ConfirmChannel(channel, onClose);
    await channel.confirmSelect();
    return confirm;
  }

  /** Whether the channel is closed. */
  get closed(): boolean {
    return this.channel.closed;
  }

  /** Whether the broker nacked publishes on this channel and confirmed none. */
  get refusedOnly(): boolean {
    return this.#tracker.refusedOnly;
  }

  /** Publishes awaiting the broker's answer (those whose caller gave up included). */
  get unconfirmed(): number {
    return this.#tracker.size;
  }

  /**
   * Publishes the messages with `mandatory` and waits for their confirms;
   * never rejects. Each message is settled by its own ack (`ok`), nack, return
   * (`unroutable`) or refusal; what is not answered within `timeoutMs` (time
   * spent paused excluded) fails as `timeout`.
   *
   * @param onOutcome Told each message's outcome as it comes.
   * @returns One outcome per message, in order.
   */
  publish(
    messages: readonly ConfirmMessage[],
    timeoutMs: number,
    onOutcome?: (index: number, outcome: SendOutcome) => void,
  ): Promise<SendOutcome[]> {
    if (messages.length === 0) return Promise.resolve([]);
    const outcomes: (SendOutcome | undefined)[] = new Array(messages.length);
    const tags: number[] = new Array(messages.length).fill(0);
    let pending = messages.length;
    const { promise, resolve } = withResolvers<SendOutcome[]>();
    const deadline: Deadline = {
      leftMs: timeoutMs,
      expire: () => {
        const error = new TransportError("timeout", `no publisher confirm within ${timeoutMs} ms`, {
          sent: true,
        });
        for (let i = 0; i < messages.length; i++) {
          if (outcomes[i] !== undefined) continue;
          // Its answer may still come; it must then pair with this publish and no other.
          this.#tracker.abandon(tags[i]);
          settle(i, { ok: false, error });
        }
      },
    };
    const settle = (i: number, outcome: SendOutcome) => {
      if (outcomes[i] !== undefined) return;
      outcomes[i] = outcome;
      onOutcome?.(i, outcome);
      if (--pending === 0) {
        this.#deadlines.delete(deadline);
        if (this.#deadlines.size === 0) {
          this.#stopTimer();
          if (this.#retired) void this.close();
        }
        resolve(outcomes as SendOutcome[]);
      }
    };
    this.#deadlines.add(deadline);
    if (!this.#paused) this.#arm(deadline);
    // The frames of the whole call go to the socket in one write.
    let capacity = 0;
    for (let i = 0; i < messages.length; i++) capacity += messages[i].body.length + FRAMES_BYTES;
    const frames = new PublishFrames(capacity, this.#spare);
    this.#spare = undefined;
    const first = nextDeliveryTag(this.channel);
    for (let i = 0; i < messages.length; i++) this.#frameOne(frames, messages[i], i, tags, settle);
    if (nextDeliveryTag(this.channel) > first) this.#write(frames, first);
    else this.#spare = frames.buffer;
    return promise;
  }

  /** Stops the publish timeouts (the connection is blocked: the broker reads nothing). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    const now = Date.now();
    for (const deadline of this.#deadlines) {
      if (deadline.dueAt === undefined) continue;
      deadline.leftMs = Math.max(0, deadline.dueAt - now);
      deadline.dueAt = undefined;
    }
    this.#stopTimer();
  }

  /** Runs the publish timeouts again, with the time they had left. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const deadline of this.#deadlines) this.#arm(deadline);
  }

  /** Fails every message still waiting for its confirm, for example when the connection is lost. */
  failPending(error: TransportError): void {
    this.#tracker.failAll(error);
  }

  /**
   * Closes the channel once every publish() call on it has its outcome (each
   * ends: by its answers, its timeout or the connection's loss), for a
   * channel another one has replaced. Answers still due to publishes whose
   * caller gave up are dropped with it.
   */
  retire(): void {
    this.#retired = true;
    if (this.#deadlines.size === 0) void this.close();
  }

  /** Closes the channel, best effort. */
  async close(): Promise<void> {
    if (!this.channel.closed) await this.channel.close().catch(() => {});
  }

  #frameOne(
    frames: PublishFrames,
    message: ConfirmMessage,
    i: number,
    tags: number[],
    settle: (i: number, outcome: SendOutcome) => void,
  ): void {
    const channel = this.channel;
    const blocked = channel.connection.blocked;
    if (channel.closed || blocked !== undefined) {
      const error = blocked !== undefined
        ? new TransportError("blocked", `connection blocked by the broker: ${blocked}`, {
          sent: false,
        })
        : new TransportError("not-connected", "the channel is closed", { sent: false });
      settle(i, { ok: false, error });
      return;
    }
    const { exchange, routingKey, body, properties } = message;
    try {
      frames.append(
        channel.id,
        channel.connection.frameMax,
        exchange,
        routingKey,
        true,
        properties,
        body,
      );
    } catch (cause) {
      settle(i, { ok: false, error: frameError(cause) });
      return;
    }
    const tag = takeDeliveryTag(channel);
    tags[i] = tag;
    this.#tracker.track(tag, {
      exchange,
      routingKey,
      messageId: properties.messageId,
      body,
      settle: (outcome) => settle(i, outcome),
    });
  }

  /** Writes the frames of the publishes tagged `first` and on; a failed write fails those still unanswered. */
  #write(frames: PublishFrames, first: number): void {
    const last = nextDeliveryTag(this.channel) - 1;
    const failed = (cause: unknown) => {
      // The tracker settles acks, nacks and the broker's closes first; what is
      // left is a publish cut off by the socket or by our own close.
      const error = toTransportError(cause);
      for (let tag = first; tag <= last; tag++) this.#tracker.fail(tag, error);
    };
    const socket = (this.channel.connection as AMQPClient).socket;
    if (socket === undefined) {
      failed(new Error("Socket not connected"));
      return;
    }
    try {
      socket.write(frames.bytes, undefined, (error) => {
        if (error) failed(error);
        // Written out: the next call may write its frames into the same memory.
        else if (frames.buffer.length <= SPARE_MAX) this.#spare = frames.buffer;
      });
    } catch (error) {
      failed(error);
    }
  }

  #arm(deadline: Deadline): void {
    if (deadline.dueAt !== undefined) return;
    deadline.dueAt = Date.now() + deadline.leftMs;
    this.#wakeAt(deadline.dueAt);
  }

  #wakeAt(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#expireDue(), Math.max(0, at - Date.now()));
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** The timer fired: expires the deadlines due, and sets it for the next. */
  #expireDue(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const deadline of [...this.#deadlines]) {
      if (deadline.dueAt === undefined) continue;
      if (deadline.dueAt <= now) {
        deadline.dueAt = undefined;
        deadline.leftMs = 0;
        deadline.expire();
      } else next = Math.min(next, deadline.dueAt);
    }
    if (next < Infinity && !this.#paused && this.#deadlines.size > 0) this.#wakeAt(next);
  }
}

/**
 * Why a message could not be framed: one AMQP cannot carry is refused for
 * good (it was never sent); anything else is a failure nobody foresaw, and
 * retried like a lost connection.
 */
function frameError(cause: unknown): TransportError {
  if (!(cause instanceof FrameEncodeError)) return toTransportError(cause);
  return new TransportError("unencodable", `the message cannot be sent as AMQP: ${cause.message}`, {
    sent: false,
    cause,
  });
}
