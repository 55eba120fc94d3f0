// The publisher confirms of one channel, by delivery tag. RabbitMQ numbers
// the publishes of a confirm-mode channel 1, 2, 3, ... and answers each on
// its own: an ack or a nack (`multiple` covers every earlier one too), a
// `basic.return` before the ack of a publish it could not route (a return
// names no tag), or, for some refusals, a close of the channel. This file
// decides which publish each answer concerns and what became of it; it does
// no I/O and keeps no time. The confirm channel feeds it what the broker sends.

import { TransportError } from "../errors.ts";
import { utf8Length } from "../event.ts";
import type { SendOutcome } from "./transport.ts";

/** What a `basic.return` shows of the publish it answers (it carries no tag). */
export interface PublishIdentity {
  exchange: string;
  routingKey: string;
  messageId?: string;
  body: string;
}

/** A publish awaiting its answer: who it is, and whom to tell. */
export interface TrackedPublish extends PublishIdentity {
  // Undefined once the caller stopped waiting (its timeout ran out): the
  // broker's answer is still matched, so that it pairs nothing else.
  settle?: (outcome: SendOutcome) => void;
}

type Entry = TrackedPublish;

// Every ack without a return settles with this one outcome: nothing changes it.
const CONFIRMED: SendOutcome = Object.freeze({ ok: true });

interface Returned extends PublishIdentity {
  code: number;
  text: string;
}

const NO_ROUTE = 312;
// The broker's texts that name what a channel was closed over.
const NAMED_EXCHANGE = /(?:no exchange|access to exchange) '([^']*)'/;
const MESSAGE_SIZE = /message size (\d+) is larger than/;
const TRAILING_CODE = /\((\d{3})\)\s*$/;

/** The unconfirmed publishes of one channel, settled by tag. */
export class ConfirmTracker {
  // Ascending tags: publishes are tracked in the order the channel numbers them.
  readonly #entries = new Map<number, Entry>();
  // Returns whose ack has not come yet, oldest first.
  #returns: Returned[] = [];
  #nacked = false;
  #confirmed = false;

  /** Publishes awaiting the broker's answer, abandoned ones included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether publishes were nacked and none was confirmed (an unroutable one's ack is no confirm). */
  get refusedOnly(): boolean {
    return this.#nacked && !this.#confirmed;
  }

  /** Tracks the publish numbered `tag` (kept as it is); its `settle` is called once, with its outcome. */
  track(tag: number, publish: TrackedPublish): void {
    this.#entries.set(tag, publish);
  }

  /** The caller stopped waiting for `tag` (it timed out): its answer will be dropped. */
  abandon(tag: number): void {
    const entry = this.#entries.get(tag);
    if (entry !== undefined) entry.settle = undefined;
  }

  /** Settles `tag`, if it is still tracked, as failed with `error` (its write failed). */
  fail(tag: number, error: TransportError): void {
    const entry = this.#entries.get(tag);
    if (entry === undefined) return;
    this.#entries.delete(tag);
    entry.settle?.({ ok: false, error });
  }

  /** A `basic.return`: the ack that follows settles the matching publish as unroutable. */
  returned(identity: PublishIdentity, code: number, text: string): void {
    this.#returns.push({ ...identity, code, text });
  }

  /** A `basic.ack` of `tag`, and with `multiple` of every earlier unsettled publish. */
  ack(tag: number, multiple: boolean): void {
    for (const [t, entry] of this.#covered(tag, multiple)) {
      this.#entries.delete(t);
      const returned = this.#takeReturn(entry);
      if (returned === undefined) this.#confirmed = true;
      entry.settle?.(
        returned === undefined ? CONFIRMED : { ok: false, error: unroutable(entry, returned) },
      );
    }
    if (this.#entries.size === 0) this.#returns = [];
  }

  /** A `basic.nack` of `tag`, and with `multiple` of every earlier unsettled publish. */
  nack(tag: number, multiple: boolean): void {
    for (const [t, entry] of this.#covered(tag, multiple)) {
      this.#entries.delete(t);
      this.#takeReturn(entry);
      this.#nacked = true;
      entry.settle?.({
        ok: false,
        error: new TransportError("nack", "the broker rejected the message (basic.nack)", {
          sent: true,
        }),
      });
    }
    if (this.#entries.size === 0) this.#returns = [];
  }

  /**
   * The broker closed the channel, `reason` as the client reports it
   * ("channel 1 closed: NOT_FOUND - no exchange 'x' in vhost '/' (404)").
   * When the reason names the publish it refused (its exchange, its size),
   * that publish fails as `closed-by-broker` and every other one as
   * `channel-closed`: sent when it went before the refused one (the broker
   * had it; its confirm is lost), not sent when it went after (the broker
   * dropped it unread). Otherwise nobody can be blamed, and every publish
   * fails as `connection-lost`. Nothing is tracked afterwards.
   *
   * @returns The tag of the refused publish, if one was named.
   */
  closed(reason: string): number | undefined {
    const code = TRAILING_CODE.exec(reason)?.[1];
    const culprit = this.#culprit(reason);
    if (culprit === undefined || code === undefined) {
      this.failAll(
        new TransportError("connection-lost", `the channel closed before the confirm: ${reason}`, {
          code: code === undefined ? undefined : Number(code),
          sent: true,
        }),
      );
      return undefined;
    }
    const entries = [...this.#entries];
    this.#entries.clear();
    this.#returns = [];
    for (const [tag, entry] of entries) {
      if (tag === culprit) {
        entry.settle?.({
          ok: false,
          error: new TransportError("closed-by-broker", reason, { code: Number(code), sent: true }),
        });
        continue;
      }
      entry.settle?.({
        ok: false,
        error: new TransportError(
          "channel-closed",
          `the broker closed the channel over another message: ${reason}`,
          { sent: tag < culprit },
        ),
      });
    }
    return culprit;
  }

  /** Fails every unsettled publish with `error` (the connection is gone); nothing is tracked afterwards. */
  failAll(error: TransportError): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#returns = [];
    for (const entry of entries) entry.settle?.({ ok: false, error });
  }

  *#covered(tag: number, multiple: boolean): Generator<[number, Entry]> {
    if (!multiple) {
      const entry = this.#entries.get(tag);
      if (entry !== undefined) yield [tag, entry];
      return;
    }
    // Live iteration: the caller deletes each yielded entry, which a Map allows.
    for (const pair of this.#entries) {
      if (pair[0] > tag) return;
      yield pair;
    }
  }

  /**
   * The oldest return that shows exactly this publish, removed. Two publishes
   * that look the same in a return are the same event sent twice, so taking
   * the oldest cannot hand one event's outcome to another.
   */
  #takeReturn(entry: Entry): Returned | undefined {
    const i = this.#returns.findIndex((r) =>
      r.exchange === entry.exchange && r.routingKey === entry.routingKey &&
      r.messageId === entry.messageId && r.body === entry.body
    );
    if (i === -1) return undefined;
    return this.#returns.splice(i, 1)[0];
  }

  #culprit(reason: string): number | undefined {
    const exchange = NAMED_EXCHANGE.exec(reason)?.[1];
    const size = MESSAGE_SIZE.exec(reason)?.[1];
    for (const [tag, entry] of this.#entries) {
      if (exchange !== undefined && entry.exchange === exchange) return tag;
      if (size !== undefined && utf8Length(entry.body) === Number(size)) return tag;
    }
    return undefined;
  }
}

function unroutable(message: PublishIdentity, returned: Returned): TransportError {
  return new TransportError(
    "unroutable",
    `unroutable: exchange ${JSON.stringify(message.exchange)} has no queue bound for routing ` +
      `key ${JSON.stringify(message.routingKey)} (${returned.text || "NO_ROUTE"})`,
    { code: returned.code || NO_ROUTE, sent: true },
  );
}
