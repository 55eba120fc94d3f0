// The benchmark's events: one shape for every row (built in peer/peer.mjs,
// which the Node peer shares), padded so that the body our publisher sends
// has about the size asked for (ids of five-digit counters hit it exactly);
// the references send the same bodies.

import { type DomainEvent, encodeEvent, type EventPriority } from "../src/event.ts";
import { benchEvent, type EventTemplate } from "./peer/peer.mjs";

export type { EventTemplate };

/** A bench event: a {@linkcode DomainEvent} whose fields the references can read. */
export type BenchEvent = ReturnType<typeof benchEvent>;

const paddings = new Map<number, string>();

/** The padding that makes an encoded bench event `bytes` long. */
function paddingFor(bytes: number): string {
  let padding = paddings.get(bytes);
  if (padding !== undefined) return padding;
  const probe = (pad: string) =>
    encodeEvent(fromTemplate({ tag: "run00000", padding: pad, priority: "normal" }, 10_000)).bytes;
  padding = "x".repeat(Math.max(0, bytes - probe("")));
  paddings.set(bytes, padding);
  return padding;
}

const _isDomainEvent: (e: BenchEvent) => DomainEvent = (e) => e;

/** The `n`th event of a template. */
export function fromTemplate(template: EventTemplate, n: number): BenchEvent {
  return benchEvent(template, n);
}

/** A template for events of `bytes` encoded bytes. */
export function template(tag: string, bytes: number, priority: EventPriority = "normal") {
  return { tag, padding: paddingFor(bytes), priority } satisfies EventTemplate;
}

/** `count` events of `bytes` encoded bytes each. */
export function makeEvents(
  tag: string,
  count: number,
  bytes: number,
  priority: EventPriority = "normal",
): BenchEvent[] {
  const t = template(tag, bytes, priority);
  return Array.from({ length: count }, (_, i) => fromTemplate(t, i));
}
