/**
 * `createStatusHandler()`: the publisher's HTTP face for operators and
 * orchestrators, for `Deno.serve`. Read-only, built on the publisher's public
 * API (`getStats()`, `getHealth()`, `deadLetters.list()`), and free of
 * secrets: URLs and error messages are masked.
 *
 * | path           | answers                                                        |
 * |----------------|----------------------------------------------------------------|
 * | `/healthz`     | liveness: 200 while the process answers                        |
 * | `/readyz`      | readiness: 200, or 503 while closing or with the buffer full   |
 * | `/metrics`     | Prometheus text exposition of the same figures as `getStats()` |
 * | `/status.json` | everything the page shows, as JSON                             |
 * | `/`            | the operator page                                              |
 *
 * @module
 */

import type { RabbitMQAsyncEventPublisher } from "../publisher/publisher.ts";
import { DeadLetterList } from "./_dead_letter_list.ts";
import { EXPOSITION_CONTENT_TYPE, renderExposition } from "./_exposition.ts";
import { publisherFamilies } from "./_families.ts";
import { FRAGMENT_QUERY, pagePolicy, renderMain, renderPage } from "./_page.ts";
import { type CounterSample, ThroughputRing } from "./_throughput.ts";
import { buildView, readiness, type StatusView } from "./_view.ts";

/**
 * What the handler reads: a {@linkcode RabbitMQAsyncEventPublisher}, or
 * anything with the same stats, health and dead letters.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 * import type { StatusSource } from "@simplycaster/rabbitmq-publisher/status";
 *
 * const source: StatusSource = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
 * ```
 */
export type StatusSource =
  & Pick<RabbitMQAsyncEventPublisher, "getStats" | "getHealth">
  & { readonly deadLetters: Pick<RabbitMQAsyncEventPublisher["deadLetters"], "list" | "count"> };

/**
 * Options of {@linkcode createStatusHandler}.
 *
 * @example
 * ```ts
 * import type { StatusHandlerOptions } from "@simplycaster/rabbitmq-publisher/status";
 *
 * const options: StatusHandlerOptions = {
 *   basePath: "/ops/events",
 *   title: "Recorder events",
 *   deadLetterLimit: 20,
 * };
 * ```
 */
export interface StatusHandlerOptions {
  /**
   * The path the handler is mounted at, without a trailing slash; requests
   * outside it answer 404.
   * @default {""}
   */
  basePath?: string;
  /** The page's title. @default {"RabbitMQ publisher"} */
  title?: string;
  /**
   * How many dead letters the page lists; 0 lists none (and never reads the
   * broker's dead-letter queue).
   * @default {10}
   */
  deadLetterLimit?: number;
  /**
   * How long a listing of the dead letters is reused, in ms. Listing reads
   * the broker queue (the messages are put back in place).
   * @default {15000}
   */
  deadLetterCacheMs?: number;
  /**
   * The longest a request waits for the dead letters, in ms; a slower
   * listing goes on in the background and the page shows the last one.
   * @default {2000}
   */
  deadLetterTimeoutMs?: number;
  /**
   * The least time between two throughput samples, in ms. Samples are taken
   * when a request comes (the page refreshes itself, Prometheus scrapes), so
   * no timer runs.
   * @default {10000}
   */
  sampleIntervalMs?: number;
  /**
   * How many throughput samples are kept: the window is about
   * `sampleCount * sampleIntervalMs`.
   * @default {30}
   */
  sampleCount?: number;
  /**
   * How often the page refreshes itself, in ms; 0 serves it without a script.
   * @default {5000}
   */
  refreshMs?: number;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/**
 * A request handler for `Deno.serve` (or any `fetch`-style server).
 *
 * @example
 * ```ts
 * import type { StatusHandler } from "@simplycaster/rabbitmq-publisher/status";
 *
 * const notFound: StatusHandler = () => new Response("not found", { status: 404 });
 * ```
 */
export type StatusHandler = (request: Request) => Response | Promise<Response>;

const JSON_TYPE = "application/json; charset=utf-8";
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * Creates the status handler of a publisher: `/healthz`, `/readyz`,
 * `/metrics`, `/status.json` and the operator page at `/`. Only `GET` and
 * `HEAD` are answered (others get 405); nothing it serves changes the
 * publisher.
 *
 * Liveness never fails on a broker outage: the publisher buffers through
 * one, and a restart would not help (it would lose an in-memory buffer).
 * Readiness fails only when events would be refused: while the publisher is
 * closing or closed, or when its buffer is full.
 *
 * @param publisher The publisher to report on.
 * @param options Mount path, page title, dead-letter listing and sampling.
 * @returns The handler.
 * @throws {TypeError} When `basePath` or `title` is not a string, or `now` not a function.
 * @throws {RangeError} When `basePath` does not start with `/` or ends with
 * one, or a number option is out of range; the message names it.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 * import { createStatusHandler } from "@simplycaster/rabbitmq-publisher/status";
 *
 * const publisher = await createRabbitMQAsyncEventPublisher({ exchange: "app" });
 * const server = Deno.serve({ port: 9464 }, createStatusHandler(publisher));
 * // curl localhost:9464/readyz ; open http://localhost:9464/ in a browser
 * await server.finished;
 * ```
 */
export function createStatusHandler(
  publisher: StatusSource,
  options: StatusHandlerOptions = {},
): StatusHandler {
  const {
    basePath = "",
    title = "RabbitMQ publisher",
    deadLetterLimit = 10,
    deadLetterCacheMs = 15_000,
    deadLetterTimeoutMs = 2_000,
    sampleIntervalMs = 10_000,
    sampleCount = 30,
    refreshMs = 5_000,
    now = Date.now,
  } = options;
  if (typeof basePath !== "string") {
    throw new TypeError(`'basePath' must be a string: got ${typeof basePath}`);
  }
  if (basePath !== "" && (!basePath.startsWith("/") || basePath.endsWith("/"))) {
    throw new RangeError(
      `'basePath' must start with "/" and not end with one: got "${basePath}"`,
    );
  }
  if (typeof title !== "string") {
    throw new TypeError(`'title' must be a string: got ${typeof title}`);
  }
  if (typeof now !== "function") throw new TypeError(`'now' must be a function: got ${typeof now}`);
  integer("deadLetterLimit", deadLetterLimit, 0);
  integer("deadLetterCacheMs", deadLetterCacheMs, 0);
  integer("deadLetterTimeoutMs", deadLetterTimeoutMs, 1);
  integer("sampleIntervalMs", sampleIntervalMs, 1);
  integer("sampleCount", sampleCount, 2);
  integer("refreshMs", refreshMs, 0);

  const ring = new ThroughputRing(sampleCount, sampleIntervalMs);
  const letters = new DeadLetterList(publisher.deadLetters, {
    limit: deadLetterLimit,
    cacheMs: deadLetterCacheMs,
    timeoutMs: deadLetterTimeoutMs,
    now,
  });
  const counters = (): CounterSample => {
    const stats = publisher.getStats();
    return {
      at: now(),
      published: stats.publishedEvents,
      failed: stats.failedEvents,
      deadLettered: stats.deadLetteredEvents,
    };
  };
  const sample = () => ring.offer(counters());
  sample();

  const view = async (): Promise<StatusView> => {
    sample();
    const deadLetters = await letters.get();
    // Read after the (possibly slow) listing, so the figures are fresh.
    return buildView(
      publisher.getStats(),
      publisher.getHealth(),
      ring.rates(counters()),
      deadLetters,
      now(),
    );
  };

  const routes: Record<string, (request: Request) => Response | Promise<Response>> = {
    "/healthz": () => json(200, { status: "ok" }),
    "/readyz": () => {
      const verdict = readiness(publisher.getStats(), publisher.getHealth());
      return json(verdict.ready ? 200 : 503, verdict);
    },
    "/metrics": () => {
      sample();
      const stats = publisher.getStats();
      const health = publisher.getHealth();
      const body = renderExposition(
        publisherFamilies(stats, health, readiness(stats, health).ready),
      );
      return new Response(body, {
        headers: { ...COMMON_HEADERS, "content-type": EXPOSITION_CONTENT_TYPE },
      });
    },
    "/status.json": async () => json(200, await view()),
    "/": async (request) => {
      const fragment = new URL(request.url).searchParams.get(FRAGMENT_QUERY) === "main";
      const nonce = crypto.randomUUID().replaceAll("-", "");
      const current = await view();
      const body = fragment
        ? renderMain(current)
        : renderPage(current, { title, basePath, refreshMs, nonce });
      return new Response(body, {
        headers: {
          ...COMMON_HEADERS,
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": pagePolicy(nonce),
          "x-frame-options": "DENY",
        },
      });
    },
  };

  return async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const path = basePath === ""
      ? pathname
      : pathname === basePath
      ? "/"
      : pathname.startsWith(`${basePath}/`)
      ? pathname.slice(basePath.length)
      : undefined;
    const route = path === undefined ? undefined : routes[path];
    if (route === undefined) return text(404, "not found\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      const response = text(405, "method not allowed: the status handler is read-only\n");
      response.headers.set("allow", "GET, HEAD");
      return response;
    }
    const response = await route(request);
    return request.method === "HEAD"
      ? new Response(null, { status: response.status, headers: response.headers })
      : response;
  };
}

function integer(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`'${name}' must be an integer of at least ${min}: got ${value}`);
  }
}

function json(status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body, null, 2)}\n`, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": JSON_TYPE },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "text/plain; charset=utf-8" },
  });
}
