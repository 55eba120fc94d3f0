// The names this project's telemetry uses, from the OpenTelemetry messaging
// semantic conventions (and its own under `rabbitmq_publisher.`), the
// instrumentation scope, and the broker as `server.*` attributes.

import type { Attributes } from "@opentelemetry/api";

/** The instrumentation scope: the tracer's and the meter's name. */
export const INSTRUMENTATION_SCOPE = "@simplycaster/rabbitmq-publisher";
/** The scope's version; a test checks it against `deno.json`. */
export const INSTRUMENTATION_VERSION = "0.1.0";

/** The broker a batch went to. */
export interface Server {
  address: string;
  port?: number;
}

// Attribute names from the OpenTelemetry messaging semantic conventions.
export const ATTR = {
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  routingKey: "messaging.rabbitmq.destination.routing_key",
  messageId: "messaging.message.id",
  conversationId: "messaging.message.conversation_id",
  bodySize: "messaging.message.body.size",
  batchCount: "messaging.batch.message_count",
  errorType: "error.type",
  serverAddress: "server.address",
  serverPort: "server.port",
  // This library's own, under its prefix.
  eventType: "rabbitmq_publisher.event.type",
  priority: "rabbitmq_publisher.event.priority",
  reason: "rabbitmq_publisher.dead_letter.reason",
  resumed: "rabbitmq_publisher.resumed",
  openSpans: "rabbitmq_publisher.open_spans",
  state: "rabbitmq_publisher.state",
} as const;

// The last URL read: it is asked for at every batch send, and rarely changes.
let last: { url: string; server: Readonly<Server> | undefined } | undefined;

/**
 * The broker's address and port from a connection URL (the password, masked
 * or not, is not read).
 */
export function serverOf(url: string | undefined): Readonly<Server> | undefined {
  if (url === undefined) return undefined;
  if (last?.url !== url) last = { url, server: parseServer(url) };
  return last.server;
}

function parseServer(url: string): Server | undefined {
  try {
    const { hostname, port, protocol } = new URL(url);
    if (hostname === "") return undefined;
    const standard = protocol === "amqps:" ? 5671 : 5672;
    return { address: hostname, port: port === "" ? standard : Number(port) };
  } catch {
    return undefined;
  }
}

/** The `server.address` and `server.port` attributes of a broker, none when unknown. */
export function serverAttributes(server: Server | undefined): Attributes {
  if (server === undefined) return {};
  return server.port === undefined
    ? { [ATTR.serverAddress]: server.address }
    : { [ATTR.serverAddress]: server.address, [ATTR.serverPort]: server.port };
}
