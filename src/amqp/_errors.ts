// The one mapping of what @cloudamqp/amqp-client throws: to an Error whose
// text holds no password, to a TransportError of the right kind, and to the
// AMQP reply code the client writes at the end of a close reason. The
// transport, the confirm channel and the dead-letter queue all map through here.

import { maskCredentials, maskUrl } from "../_mask.ts";
import { BrokerConfigurationError, TransportError } from "../errors.ts";

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

/** Why a connection attempt failed, as {@linkcode explainConnectFailure} judges it. */
export type ConnectFailureKind =
  | "login-refused"
  | "vhost-not-allowed"
  | "unreachable"
  | "unknown-host"
  | "timeout"
  | "other";

/**
 * One line saying why a connection attempt on `url` failed and what to do:
 * the user and vhost named for a refused login, never the password.
 *
 * @param url The broker URL (its password is masked here, if it is not already).
 * @param cause What the attempt failed with.
 * @returns The kind of failure, the line, and for a refusal only a change
 * of configuration mends (a login, a vhost) what to change.
 */
export function explainConnectFailure(
  url: string,
  cause: unknown,
): { kind: ConnectFailureKind; text: string; fix?: string } {
  const shown = maskUrl(url);
  const message = toError(cause).message;
  let user = "guest";
  let vhost = "/";
  try {
    const parsed = new URL(url);
    user = decodeURIComponent(parsed.username) || user;
    vhost = decodeURIComponent(parsed.pathname.slice(1)) || vhost;
  } catch {
    // Not a URL: the defaults of the client are named.
  }
  if (/ACCESS_REFUSED/.test(message) || replyCodeIn(message) === 403) {
    const fix = "check the user name and password";
    return {
      kind: "login-refused",
      text: `RabbitMQ at ${shown} refused the login of user "${user}" on vhost "${vhost}" ` +
        `(ACCESS_REFUSED): ${fix}`,
      fix,
    };
  }
  if (/NOT_ALLOWED/.test(message) || replyCodeIn(message) === 530) {
    const fix = `create the vhost, or grant the user access to it ` +
      `(rabbitmqctl set_permissions -p ${JSON.stringify(vhost)} ${user} ".*" ".*" ".*")`;
    return {
      kind: "vhost-not-allowed",
      text: `RabbitMQ at ${shown} does not let user "${user}" use vhost "${vhost}" ` +
        `(NOT_ALLOWED): ${fix}`,
      fix,
    };
  }
  if (/ECONNREFUSED|connection refused/i.test(message)) {
    return {
      kind: "unreachable",
      text: `no RabbitMQ broker answered at ${shown} (connection refused): is it running, ` +
        "on that host and port?",
    };
  }
  if (/ENOTFOUND|EAI_AGAIN|failed to lookup address|name or service not known/i.test(message)) {
    return {
      kind: "unknown-host",
      text: `no RabbitMQ broker answered at ${shown}: its host name is not known (${message})`,
    };
  }
  if (/timed? ?out/i.test(message)) {
    return {
      kind: "timeout",
      text: `no RabbitMQ broker answered at ${shown} in time (${message}): check the host, ` +
        "the port and the firewall",
    };
  }
  return { kind: "other", text: `no RabbitMQ broker answered at ${shown}: ${message}` };
}

/**
 * The error of a connection attempt the broker refused for a reason only a
 * change of configuration mends, with what to change: a refused login (403)
 * or vhost (530), worded by {@linkcode explainConnectFailure}; an exchange
 * that exists with other settings (406) or may not be declared (403).
 * `undefined` for anything else (that passes with time: a node down, a
 * timeout, a reset).
 *
 * @param cause What the attempt failed with.
 * @param url The broker URL (its password is masked here).
 * @param exchange The exchange the attempt declared.
 */
export function toConfigurationError(
  cause: unknown,
  url: string,
  exchange: string,
): BrokerConfigurationError | undefined {
  const error = toError(cause);
  const text = error.message;
  const code = replyCodeIn(text);
  const shown = maskUrl(url);
  const name = JSON.stringify(exchange);
  let fix: string;
  if ((code === 403 && /login/i.test(text)) || code === 530) {
    const explained = explainConnectFailure(url, error);
    fix = explained.fix ?? text;
    return new BrokerConfigurationError(explained.text, { code, url: shown, fix, cause: error });
  } else if (code === 406) {
    fix = `the exchange ${name} exists with other settings: set exchangeType ` +
      `(RABBITMQ_EXCHANGE_TYPE) to its type, publish to another exchange, or delete it`;
  } else if (code === 403) {
    fix = `give the user configure and write permissions on the exchange ${name} ` +
      `(rabbitmqctl set_permissions), or connect as a user that has them`;
  } else {
    return undefined;
  }
  return new BrokerConfigurationError(`RabbitMQ at ${shown} refused the setup: ${text}; ${fix}`, {
    code,
    url: shown,
    fix,
    cause: error,
  });
}
