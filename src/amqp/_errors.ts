// The one mapping of what @cloudamqp/amqp-client throws: to an Error whose
// text holds no password, to a TransportError of the right kind, and to the
// AMQP reply code the client writes at the end of a close reason. The
// transport, the confirm channel and the dead-letter queue all map through here.

import { maskCredentials } from "../_mask.ts";
import { TransportError } from "../errors.ts";

/** The reply code RabbitMQ uses for a missing queue or exchange. */
export const NOT_FOUND = 404;

/**
 * `cause` as an Error with credentials masked: the same object when its
 * message held none, otherwise a new Error with the masked message and the
 * same name (the original is dropped: its message held the password).
 */
export function toError(cause: unknown): Error {
  const error = cause instanceof Error ? cause : new Error(String(cause));
  const message = maskCredentials(error.message);
  if (message === error.message) return error;
  const masked = new Error(message);
  masked.name = error.name;
  return masked;
}

// AMQP reply codes have three digits; the WebSocket close codes the client
// reports the same way ("(1006)") have four and are not matched.
const TRAILING_REPLY_CODE = /\((\d{3})\)\s*$/;

/** The AMQP reply code at the end of a close reason ("... NOT_FOUND - ... (404)"), if any. */
export function replyCodeIn(message: string): number | undefined {
  const match = TRAILING_REPLY_CODE.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** Whether the broker answered 404 NOT_FOUND: the queue or exchange does not exist. */
export function isNotFound(cause: unknown): boolean {
  const message = toError(cause).message;
  return replyCodeIn(message) === NOT_FOUND || /NOT_FOUND/.test(message);
}

/** What a failed publish or confirm means, as a {@linkcode TransportError} (credentials masked). */
export function toTransportError(cause: unknown): TransportError {
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
  const code = replyCodeIn(message);
  if (code !== undefined) {
    return new TransportError("closed-by-broker", message, { code, sent: true, cause: error });
  }
  return new TransportError("connection-lost", message, { sent: true, cause: error });
}
