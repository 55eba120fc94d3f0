/**
 * The publisher's HTTP status endpoints for operators and orchestrators:
 * liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
 * (`/metrics`), a JSON snapshot (`/status.json`) and a small operator page
 * (`/`), all read-only and free of secrets.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 * import { createStatusHandler } from "@simplycaster/rabbitmq-publisher/status";
 *
 * const publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
 * Deno.serve({ port: 9464 }, createStatusHandler(publisher));
 * ```
 *
 * @module
 */

export {
  createStatusHandler,
  type StatusHandler,
  type StatusHandlerOptions,
  type StatusSource,
} from "./src/status/status_handler.ts";
