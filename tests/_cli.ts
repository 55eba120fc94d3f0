// Helpers for the dead-letter tool's tests: run it in-process with captured
// output, an environment for a test exchange, and a persistent store in a
// temporary directory.

import { BROKER_URL, type TestConsumer } from "./_broker.ts";
import { main } from "../dlq.ts";
import { KvStore } from "../src/store/kv/kv_store.ts";

/** What one run of the tool printed and returned. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output. */
export async function run(args: string[], env: Map<string, string>): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env,
  });
  return { code, stdout, stderr };
}

/** The environment of a publisher on the consumer's exchange, plus `extra`. */
export function envFor(
  consumer: TestConsumer,
  extra: Record<string, string> = {},
): Map<string, string> {
  return new Map(Object.entries({
    RABBITMQ_URL: BROKER_URL,
    RABBITMQ_EXCHANGE: consumer.exchange,
    ...extra,
  }));
}

/** A KV store file in a fresh temporary directory, removed afterwards. */
export async function withStorePath(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dlq_cli_test_" });
  try {
    await fn(`${dir}/events.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens the store at `path` as a publisher would: taking its lease. */
export function openStore(path: string): Promise<KvStore> {
  return KvStore.open({
    path,
    limits: { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" },
    memoryLimit: 10,
  });
}
