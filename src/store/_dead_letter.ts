// Building dead-letter records, shared by the stores (eviction, expiry) and
// the publisher (failed sends), so every dead letter has the same shape.

import { maskCredentials } from "../_mask.ts";
import type { DeadLetterReason, DeadLetterRecord, PendingRecord } from "./store.ts";

// Error texts are capped so a dead letter of a large event still fits in one
// Deno KV value (64 KiB) next to the event itself.
export const MAX_ERROR_CHARS = 1_024;

/** The dead letter of `record`, failed for good at `at` for `reason`. */
export function toDeadLetter(
  record: PendingRecord,
  reason: DeadLetterReason,
  at: number,
  error?: Error,
): DeadLetterRecord {
  const letter: DeadLetterRecord = { ...record, reason, deadLetteredAt: at };
  if (letter.lastError !== undefined) letter.lastError = cap(letter.lastError);
  if (error !== undefined) {
    letter.errorName = error.name;
    letter.errorMessage = cap(maskCredentials(error.message));
  }
  return letter;
}

function cap(text: string): string {
  return text.length > MAX_ERROR_CHARS ? text.slice(0, MAX_ERROR_CHARS - 1) + "…" : text;
}
