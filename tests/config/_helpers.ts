// Helpers shared by the config tests: a fake environment, and assertions that
// a call throws a TypeError or RangeError naming the field and never a password.

import assert from "node:assert/strict";
import type { EnvReader } from "../../src/config/types.ts";

/** A password the tests put in URLs; no error message may contain it. */
export const PASSWORD = "s3cr3t-pa55";

/** URLs holding {@linkcode PASSWORD} that the config must refuse, each for another reason. */
export const BAD_URLS: readonly string[] = [
  `http://user:${PASSWORD}@host:5672`,
  `amqp://user:${PASSWORD}@`,
  `amqp://user:${PASSWORD}@host:notaport`,
  `amqp://user:${PASSWORD}/x@host`,
  `amqp:/user:${PASSWORD}@host`,
  `user:${PASSWORD}@host`,
];

/** An environment holding only `vars`. */
export function fakeEnv(vars: Record<string, string> = {}): EnvReader {
  return new Map(Object.entries(vars));
}

/** Runs `fn`, asserts it throws a TypeError or a RangeError, and returns it. */
export function thrown(fn: () => unknown): TypeError | RangeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    assert.ok(
      error instanceof TypeError || error instanceof RangeError,
      `expected a TypeError or RangeError, got ${error.name}: ${error.message}`,
    );
    return error;
  }
  throw new assert.AssertionError({ message: "expected the call to throw" });
}

/** Asserts `fn` throws a TypeError or RangeError whose message contains every part. */
export function throwsNaming(fn: () => unknown, ...parts: string[]): Error {
  const error = thrown(fn);
  for (const part of parts) {
    assert.ok(error.message.includes(part), `${JSON.stringify(error.message)} lacks ${part}`);
  }
  assert.ok(!error.message.includes(PASSWORD), `password leaked: ${error.message}`);
  assert.ok(!String(error.cause ?? "").includes(PASSWORD), "password leaked in the cause");
  return error;
}
