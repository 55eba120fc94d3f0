// The publisher settings of the cluster failover test, shared by the test
// process and its publishing child: quick reconnects and enough retries that
// no event becomes a dead letter because of a node outage.

import type { AsyncPublishConfig, EventBufferConfig, RabbitMQConfig } from "../../mod.ts";

/** The longest wait between two rounds of connection attempts, in ms. */
export const RECONNECT_MAX_DELAY = 2_000;
/** How long the circuit stays open before a probe, in ms. */
export const CIRCUIT_RESET = 1_000;
/** The longest backoff before an event is sent again, in ms. */
export const RETRY_MAX_DELAY = 2_000;

/** Where to connect: every node, quick reconnection. */
export function failoverRabbitConfig(
  urls: string[],
  exchange: string,
  connectionName: string,
): RabbitMQConfig {
  return {
    url: urls,
    exchange,
    connectionName,
    reconnectBaseDelay: 200,
    reconnectMaxDelay: RECONNECT_MAX_DELAY,
  };
}

/** At most `batchSize × maxConcurrency` = 200 events in flight. */
export const MAX_IN_FLIGHT = 200;

/** The pipeline: small batches, many retries, a short circuit-breaker reset and cleanup interval. */
export function failoverAsyncConfig(buffer: EventBufferConfig = {}): AsyncPublishConfig {
  return {
    batchSize: 50,
    maxConcurrency: 4,
    flushInterval: 50,
    publishTimeout: 5_000,
    retry: { maxRetries: 1_000, baseDelay: 200, maxDelay: RETRY_MAX_DELAY },
    circuitBreaker: { resetTimeout: CIRCUIT_RESET },
    // Dead letters the broker could not take are tried again after this long.
    bufferConfig: { maxBufferSize: 200_000, cleanupInterval: 5_000, ...buffer },
  };
}
