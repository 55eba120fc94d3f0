/**
 * The one place that decides whether a failed send is retried or becomes a
 * dead letter at once. The rules are data ({@linkcode TRANSPORT_ERROR_KINDS},
 * {@linkcode AMQP_REPLY_CODES}), each row with the reason for it, so the
 * README can list them and the tests can check every row.
 *
 * Retrying is the default: an error nobody foresaw is retried, and still ends
 * as a `max-retries` dead letter if it never clears. Only failures that no
 * retry can fix are permanent.
 *
 * @module
 */

import { replyCodeIn } from "../amqp/_errors.ts";
import {
  BufferFullError,
  EventValidationError,
  PublishTimeoutError,
  TransportError,
  type TransportErrorKind,
} from "../errors.ts";
import type { DeadLetterReason } from "../store/store.ts";

/**
 * The verdict on a failed send: retry it later, or dead-letter it now with a
 * reason.
 *
 * @example
 * ```ts
 * import { classifyError, type ErrorClassification } from "@simplycaster/rabbitmq-publisher";
 *
 * const verdict: ErrorClassification = classifyError(new Error("socket hang up"));
 * if (verdict.retriable) console.log("retry later");
 * else console.log(`dead letter: ${verdict.reason}`);
 * // retry later
 * ```
 */
export type ErrorClassification =
  | { readonly retriable: true }
  | { readonly retriable: false; readonly reason: DeadLetterReason };

/**
 * One row of {@linkcode AMQP_REPLY_CODES}.
 *
 * @example
 * ```ts
 * import { AMQP_REPLY_CODES, type ReplyCodeRule } from "./error_classification.ts";
 *
 * const rule: ReplyCodeRule = AMQP_REPLY_CODES[320];
 * console.log(rule); // { name: "CONNECTION_FORCED", classification: { retriable: true } }
 * ```
 */
export interface ReplyCodeRule {
  /** The reply code's name in the AMQP 0-9-1 specification. */
  readonly name: string;
  /** What a failure with this code means for the event. */
  readonly classification: ErrorClassification;
}

const RETRIABLE: ErrorClassification = Object.freeze({ retriable: true });

function permanent(reason: DeadLetterReason): ErrorClassification {
  return Object.freeze({ retriable: false, reason });
}

/**
 * How each AMQP reply code that closes a channel or connection is judged.
 * Codes not listed are retried (see {@linkcode classifyError}).
 *
 * @example
 * ```ts
 * import { AMQP_REPLY_CODES } from "./error_classification.ts";
 *
 * console.log(AMQP_REPLY_CODES[403].name); // "ACCESS_REFUSED"
 * console.log(AMQP_REPLY_CODES[403].classification); // { retriable: false, reason: "access-refused" }
 * ```
 */
export const AMQP_REPLY_CODES: Readonly<Record<number, ReplyCodeRule>> = Object.freeze({
  // The message is bigger than the broker accepts; the same bytes will be
  // refused again.
  311: rule("CONTENT_TOO_LARGE", permanent("too-large")),
  // `mandatory` and no queue is bound for the routing key; sending again
  // changes nothing until someone adds a binding, and then it is a new event.
  312: rule("NO_ROUTE", permanent("unroutable")),
  // An operator closed the connection or the node is shutting down; the
  // connection monitor reconnects, possibly to another node.
  320: rule("CONNECTION_FORCED", RETRIABLE),
  // The user may not write to the exchange; permissions do not change by
  // retrying.
  403: rule("ACCESS_REFUSED", permanent("access-refused")),
  // The exchange is missing (deleted while we were connected); it is
  // declared again on reconnect, so the next attempt can succeed.
  404: rule("NOT_FOUND", RETRIABLE),
  // Another connection holds an exclusive lock; locks are released when it
  // goes away.
  405: rule("RESOURCE_LOCKED", RETRIABLE),
  // The exchange exists with other arguments (type, durability) than ours;
  // only a change of configuration fixes that. A message over the broker's
  // `max_message_size` is refused with this code too, and is `too-large`
  // (see TOO_LARGE).
  406: rule("PRECONDITION_FAILED", permanent("precondition-failed")),
  // The client sent a frame the broker did not expect in that state: a
  // client-side glitch that a fresh channel clears.
  503: rule("COMMAND_INVALID", RETRIABLE),
  // The channel was used wrongly or had failed; a fresh channel clears it.
  504: rule("CHANNEL_ERROR", RETRIABLE),
  // The broker lacked a resource (for example channels per connection) for
  // a moment.
  506: rule("RESOURCE_ERROR", RETRIABLE),
  // A broker-side fault; it may be gone after a reconnect or a node failover.
  541: rule("INTERNAL_ERROR", RETRIABLE),
});

function rule(name: string, classification: ErrorClassification): ReplyCodeRule {
  return Object.freeze({ name, classification });
}

/**
 * How each kind of {@linkcode TransportError} is judged. `"by-reply-code"`
 * means the error's `code` is looked up in {@linkcode AMQP_REPLY_CODES}.
 *
 * @example
 * ```ts
 * import { TRANSPORT_ERROR_KINDS } from "./error_classification.ts";
 *
 * console.log(TRANSPORT_ERROR_KINDS.timeout); // { retriable: true }
 * console.log(TRANSPORT_ERROR_KINDS["closed-by-broker"]); // "by-reply-code"
 * ```
 */
export const TRANSPORT_ERROR_KINDS: Readonly<
  Record<TransportErrorKind, ErrorClassification | "by-reply-code">
> = Object.freeze({
  // Never sent; it will be once the connection is back.
  "not-connected": RETRIABLE,
  // The outcome is unknown; sending again may duplicate, which consumers
  // absorb by `message_id`, while not sending may lose the event.
  "connection-lost": RETRIABLE,
  // The reply code says whether the broker will ever accept it.
  "closed-by-broker": "by-reply-code",
  // Another message's refusal closed the channel; this one was not refused.
  "channel-closed": RETRIABLE,
  // The broker refused it for now: a full queue with `x-overflow:
  // reject-publish`, or an internal error. Queues drain.
  "nack": RETRIABLE,
  // Returned under `mandatory`: no queue is bound for its routing key.
  "unroutable": permanent("unroutable"),
  // It cannot be written as AMQP frames: the message itself is wrong.
  "unencodable": permanent("rejected"),
  // A memory or disk alarm blocks publishing until it clears.
  "blocked": RETRIABLE,
  // No confirm in time: the broker may or may not have it, as for
  // "connection-lost".
  "timeout": RETRIABLE,
});

/**
 * Decides whether a failed send is retried or becomes a dead letter now.
 *
 * - A {@linkcode TransportError} is judged by its kind
 *   ({@linkcode TRANSPORT_ERROR_KINDS}); for `closed-by-broker`, by its reply
 *   code ({@linkcode AMQP_REPLY_CODES}).
 * - An {@linkcode EventValidationError} is permanent, reason `rejected`: the
 *   event itself is wrong.
 * - A {@linkcode PublishTimeoutError} or {@linkcode BufferFullError} is
 *   retriable: both pass with time.
 * - A 406 whose text says the message is larger than the broker's
 *   `max_message_size` is permanent with reason `too-large`.
 * - Any other error whose message ends with an AMQP reply code in
 *   parentheses, as the AMQP client formats channel and connection closes
 *   (`"channel 1 closed: NOT_FOUND - no exchange 'x' (404)"`), is judged by
 *   that code.
 * - Everything else, and every reply code not in the table, is retriable:
 *   trouble nobody foresaw gets its retries and still ends as a `max-retries`
 *   dead letter if it never clears.
 *
 * @param error What the failed send threw or was rejected with.
 * @returns `{ retriable: true }`, or `{ retriable: false, reason }` with the
 * dead-letter reason.
 *
 * @example
 * ```ts
 * import { classifyError, TransportError } from "@simplycaster/rabbitmq-publisher";
 *
 * const refused = new TransportError("closed-by-broker", "ACCESS_REFUSED", {
 *   code: 403,
 *   sent: true,
 * });
 * console.log(classifyError(refused)); // { retriable: false, reason: "access-refused" }
 * console.log(classifyError(new Error("connection closed: CONNECTION_FORCED (320)")));
 * // { retriable: true }
 * ```
 */
export function classifyError(error: unknown): ErrorClassification {
  if (error instanceof TransportError) {
    const verdict = TRANSPORT_ERROR_KINDS[error.kind] ?? RETRIABLE;
    if (verdict !== "by-reply-code") return verdict;
    return classifyReply(error.code ?? replyCodeIn(error.message), error.message);
  }
  if (error instanceof EventValidationError) return permanent("rejected");
  if (error instanceof PublishTimeoutError || error instanceof BufferFullError) return RETRIABLE;
  if (error instanceof Error) return classifyReply(replyCodeIn(error.message), error.message);
  return RETRIABLE;
}

// RabbitMQ's text when a message exceeds `max_message_size`: "PRECONDITION_FAILED -
// message size 2097152 is larger than configured max size 1048576".
const TOO_LARGE = /message size \d+ is larger than( configured)? max size/;

function classifyReply(code: number | undefined, text: string): ErrorClassification {
  if (code === undefined) return RETRIABLE;
  if (code === 406 && TOO_LARGE.test(text)) return permanent("too-large");
  return Object.hasOwn(AMQP_REPLY_CODES, code) ? AMQP_REPLY_CODES[code].classification : RETRIABLE;
}
