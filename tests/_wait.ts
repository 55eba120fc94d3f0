// Bounded waiting for tests: poll a condition, never assert on elapsed time.

export { delay as sleep } from "../src/_async.ts";
import { delay } from "../src/_async.ts";

/**
 * Polls `condition` every `intervalMs` until it holds or `timeoutMs` passes.
 *
 * @returns Whether it held.
 */
export async function poll(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) return false;
    await delay(intervalMs);
  }
  return true;
}

/**
 * Polls `condition` until it holds; throws naming `what` after `timeoutMs`.
 * `what` may be a function, to describe the state at the time of failure.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 15_000,
  intervalMs = 20,
): Promise<void> {
  if (await poll(condition, timeoutMs, intervalMs)) return;
  const description = typeof what === "function" ? what() : what;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
}
