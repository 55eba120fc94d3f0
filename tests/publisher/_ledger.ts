// The final account of a run through the fake transport: every accepted
// event ends in exactly one of confirmed, dead-lettered (with its reason) or
// still pending, and the three counts add up to the events accepted.

import assert from "node:assert/strict";
import {
  type AsyncPublishConfig,
  type CircuitStateChange,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  MemoryStore,
  type PendingStore,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";
import type { FakeTransport } from "../_fake_transport.ts";
import { describe } from "../_pipeline.ts";

export const EXCHANGE = "x";
export const DLX = "x.dead-letter";

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

let counter = 0;

/** `n` fresh events with unique ids (`o<n>`). */
export function newEvents(
  n: number,
  priority: "high" | "normal" | "low" = "normal",
): DomainEvent[] {
  return Array.from({ length: n }, () => {
    const k = ++counter;
    return { id: `o${k}`, type: "test.happened", data: { k }, metadata: { priority } };
  });
}

/**
 * A publisher on `fake` with a memory store (or `store`), fast timers, and
 * the breaker's transitions recorded.
 */
export async function publisherOn<S extends PendingStore = MemoryStore>(
  fake: FakeTransport,
  config: AsyncPublishConfig = {},
  given?: S,
): Promise<{
  publisher: RabbitMQAsyncEventPublisher;
  store: S;
  circuit: CircuitStateChange[];
}> {
  const store = given ??
    new MemoryStore({
      maxEvents: 100_000,
      maxBytes: 500_000_000,
      overflow: "reject",
    }) as PendingStore as S;
  const circuit: CircuitStateChange[] = [];
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    {
      flushInterval: 5,
      batchSize: 10,
      maxConcurrency: 4,
      publishTimeout: 10_000,
      retry: { maxRetries: 5, baseDelay: 1, maxDelay: 5 },
      circuitBreaker: { failureThreshold: 100, resetTimeout: 200 },
      ...config,
    },
    { transport: fake, store, logger: quiet, onStateChange: (c) => circuit.push(c) },
  );
  return { publisher, store, circuit };
}

/** What became of each accepted event. */
export interface Ledger {
  /** Confirmed on the exchange, exactly once each. */
  confirmed: string[];
  /** Dead-lettered (shipped or held locally), by id, with the reason. */
  deadLettered: Map<string, string>;
  /** Still pending in the store. */
  pending: number;
  /** Events with more or fewer than one outcome. */
  problems: string[];
}

/** The ledger of `ids` after a run. */
export async function ledger(
  fake: FakeTransport,
  store: PendingStore,
  ids: Iterable<string>,
): Promise<Ledger> {
  const local = new Map((await store.listDeadLetters()).map((l) => [l.id, l.reason as string]));
  const result: Ledger = {
    confirmed: [],
    deadLettered: new Map(),
    pending: store.counts().size,
    problems: [],
  };
  for (const id of ids) {
    const ok = fake.okCount(id, EXCHANGE);
    const shipped = fake.attemptsOf(id, DLX).filter((a) => a.outcome === "ok");
    const outcomes = ok + shipped.length + (local.has(id) ? 1 : 0);
    if (outcomes > 1) {
      result.problems.push(
        `${id}: confirmed ${ok}, shipped ${shipped.length}, local ${local.has(id)}`,
      );
    }
    if (ok > 0) result.confirmed.push(id);
    const reason = shipped[0]?.message.properties.headers["x-dead-letter-reason"] ?? local.get(id);
    if (ok === 0 && reason !== undefined) result.deadLettered.set(id, String(reason));
  }
  return result;
}

/** Asserts the ledger adds up: confirmed + dead-lettered + pending = accepted, nobody twice. */
export function assertAddsUp(account: Ledger, accepted: number): void {
  assert.deepEqual(account.problems, []);
  assert.equal(
    account.confirmed.length + account.deadLettered.size + account.pending,
    accepted,
    JSON.stringify({
      confirmed: account.confirmed.length,
      deadLettered: account.deadLettered.size,
      pending: account.pending,
      accepted,
    }),
  );
}

/** The publisher's numbers and the fake's in one line, for assertion messages. */
export function snapshot(publisher: RabbitMQAsyncEventPublisher, fake: FakeTransport): string {
  const unsettled = fake.unsettledTags().length;
  return `${describe(publisher)} fake: ${unsettled} unsettled, ${fake.sends.length} sends`;
}
