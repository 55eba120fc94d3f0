// A scripted Transport for the cases a real broker cannot produce on demand:
// out-of-order and multiple confirms, lost confirms, returns, nacks, channel
// and broker closes mid-batch, blocked connections. A script decides the fate
// of every message; everything the publisher does through it is recorded.
//
// It plays the transport's contract for per-message outcomes: each message
// is told its own outcome (through `onOutcome` as it comes, and in the
// resolved array); a channel refused because of one message (`refuse`) fails
// that one as `closed-by-broker` and its neighbours as `channel-closed`, and
// the channel is reopened on the same connection; while the connection is
// blocked nothing is answered and the publish timeout does not run.

import {
  type ConnectionState,
  type ConnectionStateChange,
  type OutboundMessage,
  type SendOptions,
  type SendOutcome,
  type Transport,
  TransportError,
  type TransportErrorKind,
} from "../mod.ts";

/** What the broker does with one published message. */
export type FateKind =
  /** Confirmed (basic.ack) after `delayMs`. */
  | "ok"
  /** Not answered until {@linkcode FakeTransport.ack}/`nack` covers it (or the timeout). */
  | "hold"
  /** Refused (basic.nack) after `delayMs`. */
  | "nack"
  /** Returned as unroutable (reply code 312) after `delayMs`. */
  | "return"
  /** The confirm never arrives: the send's own timeout fails it as `timeout`. */
  | "lost"
  /** After `delayMs` the channel closes: every unsettled message fails as `connection-lost`. */
  | "channel-close"
  /** After `delayMs` the broker closes the channel with `code`; the others fail as `connection-lost`. */
  | "broker-close"
  /** Refused at once, never sent: the connection is blocked. */
  | "blocked"
  /** Refused at once, never sent: not connected. */
  | "not-connected"
  /**
   * After `delayMs` the broker closes the channel because of this message
   * (reply `code`, default 406): it fails as `closed-by-broker`, every other
   * unsettled message on the channel as `channel-closed` (`sent` when it went
   * before this one), and the channel is reopened at once on the same
   * connection: no state change, no reconnect.
   */
  | "refuse"
  /**
   * A `basic.return` after `delayMs`, then the message's ack only when
   * {@linkcode FakeTransport.ack} covers it: returns interleaved with acks.
   */
  | "return-hold";

/** A message's fate with its timing. */
export interface Fate {
  /** What happens. */
  kind: FateKind;
  /** When the broker answers, in ms after the send. @default {0} */
  delayMs?: number;
  /** For `ok`: the ack is a `multiple` one, settling every earlier `ok`/`hold` message too. */
  multiple?: boolean;
  /** For `broker-close`: the AMQP reply code. @default {320}; for `refuse`: @default {406} */
  code?: number;
  /** For `refuse`: the broker's reply text. */
  text?: string;
  /** For the closes: reconnect after this many ms. @default {the transport's reconnectDelayMs} */
  reconnectAfterMs?: number;
}

/** What a script knows when it decides a fate. */
export interface ScriptContext {
  /** How many times this message id has been sent to this exchange, this one included. */
  attempt: number;
  /** The index of the send call (0-based). */
  sendIndex: number;
  /** The message's position in its send call. */
  index: number;
  /** The delivery tag on the current channel. */
  deliveryTag: number;
  /** The transport's seeded random numbers. */
  random: () => number;
}

/** Decides the fate of each published message. */
export type Script = (message: OutboundMessage, context: ScriptContext) => Fate | FateKind;

/** Options of {@linkcode FakeTransport}. */
export interface FakeTransportOptions {
  /** The script. @default {every message is confirmed at once} */
  script?: Script;
  /** Seed of the random numbers handed to scripts. @default {1} */
  seed?: number;
  /** Whether `start()` connects. @default {true} */
  startConnected?: boolean;
  /** Reconnect this long after a scripted close or `disconnect()`; `undefined` waits for `reconnect()`. @default {20} */
  reconnectDelayMs?: number | undefined;
}

/** One call of `send()`. */
export interface SendRecord {
  /** 0-based index. */
  index: number;
  /** The exchange of the first message. */
  exchange: string;
  /** The message ids, in order. */
  messageIds: string[];
  /** The connection state when it was called. */
  state: ConnectionState;
  /** Sends to the same exchange in flight when it started, this one included. */
  inFlightAtStart: number;
  /** When it was called (ms since the epoch). */
  startedAt: number;
  /** When its promise resolved. */
  settledAt?: number;
}

/** One message of one send, and what became of it. */
export interface AttemptRecord {
  /** The index of the send call. */
  send: number;
  /** The message id. */
  messageId: string;
  /** The exchange. */
  exchange: string;
  /** The message as published. */
  message: OutboundMessage;
  /** The channel number (1 after start, +1 per reconnect). */
  channel: number;
  /** The delivery tag on that channel (0 for a message never sent). */
  deliveryTag: number;
  /** The scripted fate. */
  fate: FateKind;
  /** What the publisher was told: `"ok"` or the error kind; undefined while unsettled. */
  outcome?: "ok" | TransportErrorKind;
  /** The reply code of the error, if any. */
  code?: number;
  /** Whether the error said the message left the process. */
  sent?: boolean;
  /** When the outcome was given. */
  settledAt?: number;
}

/** A `basic.ack`/`basic.nack` the fake broker sent. */
export interface ConfirmRecord {
  /** Ack or nack. */
  kind: "ack" | "nack";
  /** The delivery tag. */
  deliveryTag: number;
  /** Whether it covered every earlier unsettled tag. */
  multiple: boolean;
  /** The message ids it settled. */
  settled: string[];
}

interface PendingSend {
  readonly record: SendRecord;
  readonly outcomes: (SendOutcome | undefined)[];
  remaining: number;
  readonly resolve: (outcomes: SendOutcome[]) => void;
  readonly onOutcome?: (index: number, outcome: SendOutcome) => void;
  readonly timeoutMs: number;
  timer?: Timer;
  // What is left of the publish timeout, and since when it runs (it stops while blocked).
  timeLeftMs: number;
  armedAt: number;
}

interface Unsettled {
  readonly attempt: AttemptRecord;
  readonly send: PendingSend;
  readonly index: number;
  // A basic.return came for it: its ack settles it as unroutable.
  returned?: boolean;
}

/** A channel the broker closed because of one message. */
export interface RefusalRecord {
  /** The channel number that was closed. */
  channel: number;
  /** The refused message. */
  messageId: string;
  /** Its delivery tag. */
  deliveryTag: number;
  /** The reply code. */
  code: number;
  /** The other messages that were unsettled on the channel, failed as `channel-closed`. */
  neighbours: string[];
}

/**
 * Random numbers in [0, 1) from a 32-bit seed (mulberry32): the same seed
 * gives the same run.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A script from a plan per message id: the n-th send of an id gets the n-th
 * fate of its list (the last one repeats); ids not in the plan get `fallback`.
 * With `exchange`, the plan applies to that exchange only, and messages to any
 * other exchange (the dead-letter exchange) are confirmed at once.
 */
export function planScript(
  plan: Record<string, readonly (Fate | FateKind)[]>,
  fallback: Fate | FateKind = "ok",
  exchange?: string,
): Script {
  return (message, { attempt }) => {
    if (exchange !== undefined && message.exchange !== exchange) return "ok";
    const fates = plan[message.properties.messageId];
    if (fates === undefined || fates.length === 0) return fallback;
    return fates[Math.min(attempt, fates.length) - 1];
  };
}

/**
 * A script drawing each fate from `weights` with the transport's random
 * numbers, answered after a random delay of up to `maxDelayMs` (so confirms
 * come out of order); an `ok` is a multiple ack with probability `multiple`.
 */
export function randomScript(
  weights: Partial<Record<FateKind, number>>,
  options: { maxDelayMs?: number; multiple?: number; code?: () => number } = {},
): Script {
  const { maxDelayMs = 10, multiple = 0.1, code = () => 320 } = options;
  const entries = Object.entries(weights) as [FateKind, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  return (_message, { random }) => {
    let pick = random() * total;
    let kind: FateKind = entries[entries.length - 1][0];
    for (const [k, w] of entries) {
      if ((pick -= w) < 0) {
        kind = k;
        break;
      }
    }
    const delayMs = Math.floor(random() * (maxDelayMs + 1));
    const fate: Fate = { kind, delayMs };
    if (kind === "ok" && random() < multiple) fate.multiple = true;
    if (kind === "broker-close") fate.code = code();
    return fate;
  };
}

type Timer = ReturnType<typeof setTimeout>;

const DEAD = new Set<ConnectionState>(["connecting", "disconnected", "closed"]);
const ACKABLE = new Set<FateKind>(["ok", "hold"]);

/** A {@linkcode Transport} whose broker is a script. */
export class FakeTransport implements Transport {
  /** The script; may be replaced at any time (it applies to later sends). */
  script: Script;
  /** Every send call, in order. */
  readonly sends: SendRecord[] = [];
  /** Every message of every send, in order of sending. */
  readonly attempts: AttemptRecord[] = [];
  /** The attempts in the order their outcomes were given. */
  readonly settlements: AttemptRecord[] = [];
  /** Every ack and nack the fake broker sent. */
  readonly confirms: ConfirmRecord[] = [];
  /** Every state change. */
  readonly changes: ConnectionStateChange[] = [];
  /** The seeded random numbers (also handed to scripts). */
  readonly random: () => number;
  /** How many times the connection came back. */
  reconnects = 0;
  /** Every channel the broker closed because of one message (`refuse`), in order. */
  readonly refusals: RefusalRecord[] = [];

  readonly #listeners = new Set<(change: ConnectionStateChange) => void>();
  readonly #timers = new Set<Timer>();
  readonly #unsettled = new Map<number, Unsettled>();
  readonly #inFlight = new Map<string, number>();
  readonly #peak = new Map<string, number>();
  readonly #sentCount = new Map<string, number>();
  readonly #startConnected: boolean;
  readonly #reconnectDelayMs: number | undefined;
  #state: ConnectionState = "disconnected";
  #channel = 0;
  #deliveryTag = 0;
  #attemptsFailed = 0;
  #reconnectTimer: Timer | undefined;
  #blockedReason: string | undefined;
  // Broker answers that came due while blocked: given once unblocked.
  #deferred: (() => void)[] = [];
  #messagesInFlight = new Map<string, number>();
  #peakMessages = new Map<string, number>();

  constructor(options: FakeTransportOptions = {}) {
    this.script = options.script ?? (() => "ok");
    this.random = seededRandom(options.seed ?? 1);
    this.#startConnected = options.startConnected ?? true;
    this.#reconnectDelayMs = "reconnectDelayMs" in options ? options.reconnectDelayMs : 20;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get reconnectAttempts(): number {
    return this.#attemptsFailed;
  }

  get url(): string | undefined {
    return "amqp://guest:***@fake:5672";
  }

  /** The current channel number. */
  get channel(): number {
    return this.#channel;
  }

  /** The reason the broker gave for blocking, while blocked. */
  get blockedReason(): string | undefined {
    return this.#blockedReason;
  }

  /** Timers still pending (answers, send timeouts, a scheduled reconnect). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  start(): Promise<boolean> {
    if (this.#state === "closed") return Promise.resolve(false);
    if (this.#state === "connected" || this.#state === "blocked") return Promise.resolve(true);
    if (this.#startConnected) {
      this.reconnect();
      return Promise.resolve(true);
    }
    this.#setState("connecting");
    this.#attemptsFailed++;
    this.#setState("disconnected", new Error("scripted: broker unreachable"));
    return Promise.resolve(false);
  }

  onStateChange(listener: (change: ConnectionStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  send(
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options: SendOptions = {},
  ): Promise<SendOutcome[]> {
    const exchange = messages[0]?.exchange ?? "";
    const inFlight = (this.#inFlight.get(exchange) ?? 0) + 1;
    const record: SendRecord = {
      index: this.sends.length,
      exchange,
      messageIds: messages.map((m) => m.properties.messageId),
      state: this.#state,
      inFlightAtStart: inFlight,
      startedAt: Date.now(),
    };
    this.sends.push(record);
    this.#inFlight.set(exchange, inFlight);
    this.#peak.set(exchange, Math.max(this.#peak.get(exchange) ?? 0, inFlight));
    const { promise, resolve } = Promise.withResolvers<SendOutcome[]>();
    const send: PendingSend = {
      record,
      outcomes: new Array(messages.length),
      remaining: messages.length,
      resolve,
      onOutcome: options.onOutcome,
      timeoutMs,
      timeLeftMs: timeoutMs,
      armedAt: Date.now(),
    };
    const refusal: FateKind | undefined = DEAD.has(this.#state)
      ? "not-connected"
      : this.#state === "blocked"
      ? "blocked"
      : undefined;
    const fates: Fate[] = [];
    const entries: Unsettled[] = messages.map((message, index) => {
      const key = `${message.exchange}\u0000${message.properties.messageId}`;
      const attempt = (this.#sentCount.get(key) ?? 0) + 1;
      this.#sentCount.set(key, attempt);
      const deliveryTag = refusal ? 0 : ++this.#deliveryTag;
      const fate: Fate = refusal ? { kind: refusal } : toFate(
        this.script(message, {
          attempt,
          sendIndex: record.index,
          index,
          deliveryTag,
          random: this.random,
        }),
      );
      fates.push(fate);
      const entry: Unsettled = {
        attempt: {
          send: record.index,
          messageId: message.properties.messageId,
          exchange: message.exchange,
          message,
          channel: this.#channel,
          deliveryTag,
          fate: fate.kind,
        },
        send,
        index,
      };
      this.attempts.push(entry.attempt);
      if (deliveryTag > 0) {
        this.#unsettled.set(deliveryTag, entry);
        this.#countMessages(message.exchange, +1);
      }
      return entry;
    });
    if (messages.length === 0) this.#finish(send);
    else this.#armTimeout(send);
    entries.forEach((entry, i) => this.#schedule(entry, fates[i]));
    return promise;
  }

  /**
   * Confirms a message, and with `multiple` every earlier unsettled one whose
   * fate is `ok` or `hold` (the broker meant to confirm those).
   *
   * @param deliveryTag The tag on the current channel.
   * @param options `multiple`.
   * @returns The message ids settled.
   */
  ack(deliveryTag: number, options: { multiple?: boolean } = {}): string[] {
    return this.#confirm("ack", deliveryTag, options.multiple ?? false);
  }

  /**
   * Refuses a message, and with `multiple` every earlier unsettled one.
   *
   * @param deliveryTag The tag on the current channel.
   * @param options `multiple`.
   * @returns The message ids settled.
   */
  nack(deliveryTag: number, options: { multiple?: boolean } = {}): string[] {
    return this.#confirm("nack", deliveryTag, options.multiple ?? false);
  }

  /**
   * The broker sends a `basic.return` for a message: its ack, when it comes,
   * settles it as `unroutable`, as RabbitMQ sends the return first.
   *
   * @param deliveryTag The tag on the current channel.
   * @returns Whether an unsettled message had that tag.
   */
  returnMessage(deliveryTag: number): boolean {
    const entry = this.#unsettled.get(deliveryTag);
    if (entry === undefined) return false;
    entry.returned = true;
    return true;
  }

  /**
   * The broker closes the channel because of one message (see the `refuse`
   * fate); the channel is reopened at once on the same connection.
   *
   * @param deliveryTag The refused message's tag on the current channel.
   * @param options The reply `code` (default 406) and `text`.
   * @returns The ids of the neighbours failed as `channel-closed`.
   */
  refuse(deliveryTag: number, options: { code?: number; text?: string } = {}): string[] {
    const entry = this.#unsettled.get(deliveryTag);
    if (entry === undefined) return [];
    return this.#refuse(entry, options.code ?? 406, options.text);
  }

  /** Messages to `exchange` (all exchanges when omitted) awaiting their outcomes now. */
  messagesInFlight(exchange?: string): number {
    if (exchange !== undefined) return this.#messagesInFlight.get(exchange) ?? 0;
    let sum = 0;
    for (const n of this.#messagesInFlight.values()) sum += n;
    return sum;
  }

  /** The most messages to `exchange` ever awaiting their outcomes at once. */
  peakMessagesInFlight(exchange: string): number {
    return this.#peakMessages.get(exchange) ?? 0;
  }

  /** The delivery tags of the unsettled messages on the current channel, ascending. */
  unsettledTags(): number[] {
    return [...this.#unsettled.keys()].sort((a, b) => a - b);
  }

  /**
   * Loses the connection: every unsettled message fails as `connection-lost`
   * (sent), the state goes `disconnected`, and the connection comes back after
   * `reconnectAfterMs` (by default the transport's `reconnectDelayMs`).
   *
   * @param error Why.
   * @param options When to reconnect.
   */
  disconnect(
    error: Error = new Error("scripted: connection lost"),
    options: { reconnectAfterMs?: number } = {},
  ): void {
    if (this.#state === "closed" || this.#state === "disconnected") return;
    this.#failUnsettled(
      () => new TransportError("connection-lost", error.message, { sent: true, cause: error }),
    );
    this.#blockedReason = undefined;
    this.#deferred = [];
    this.#setState("disconnected", error);
    const after = options.reconnectAfterMs ?? this.#reconnectDelayMs;
    if (after !== undefined) {
      this.#clearReconnect();
      this.#reconnectTimer = this.#after(after, () => {
        this.#reconnectTimer = undefined;
        this.reconnect();
      });
    }
  }

  /** Connects (again) at once on a fresh channel, whose delivery tags start over. */
  reconnect(): void {
    this.#clearReconnect();
    if (this.#state === "closed" || this.#state === "connected" || this.#state === "blocked") {
      return;
    }
    this.#setState("connecting");
    if (this.#channel > 0) this.reconnects++;
    this.#channel++;
    this.#deliveryTag = 0;
    this.#attemptsFailed = 0;
    this.#setState("connected");
  }

  /**
   * The broker raises a resource alarm: sends are refused as `blocked`, the
   * messages already sent get no answer until `unblock()`, and their publish
   * timeout stops running (the broker confirms them after the alarm).
   *
   * @param reason What the broker said, as in `connection.blocked`.
   */
  block(reason = "low on memory"): void {
    if (this.#state !== "connected") return;
    this.#blockedReason = reason;
    const now = Date.now();
    for (const send of this.#pendingSends()) {
      if (send.timer === undefined) continue;
      clearTimeout(send.timer);
      this.#timers.delete(send.timer);
      send.timer = undefined;
      send.timeLeftMs = Math.max(0, send.timeLeftMs - (now - send.armedAt));
    }
    this.#setState("blocked");
  }

  /** The resource alarm clears: the held answers come, the timeouts run again. */
  unblock(): void {
    if (this.#state !== "blocked") return;
    this.#blockedReason = undefined;
    this.#setState("connected");
    for (const send of this.#pendingSends()) this.#armTimeout(send);
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const answer of deferred) answer();
  }

  /** Sends to `exchange` (all exchanges when omitted) awaiting their outcomes now. */
  inFlight(exchange?: string): number {
    if (exchange !== undefined) return this.#inFlight.get(exchange) ?? 0;
    let sum = 0;
    for (const n of this.#inFlight.values()) sum += n;
    return sum;
  }

  /** The most sends to `exchange` ever awaiting their outcomes at once. */
  peakInFlight(exchange: string): number {
    return this.#peak.get(exchange) ?? 0;
  }

  /** The attempts of one message id (to one exchange, when given). */
  attemptsOf(messageId: string, exchange?: string): AttemptRecord[] {
    return this.attempts.filter((a) =>
      a.messageId === messageId && (exchange === undefined || a.exchange === exchange)
    );
  }

  /** How many times the publisher was told `ok` for this id on this exchange. */
  okCount(messageId: string, exchange: string): number {
    return this.attemptsOf(messageId, exchange).filter((a) => a.outcome === "ok").length;
  }

  /** Settles everything pending as `connection-lost`, clears every timer, and goes `closed`. */
  close(): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    this.#failUnsettled(
      () => new TransportError("connection-lost", "transport closed", { sent: true }),
    );
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#reconnectTimer = undefined;
    this.#deferred = [];
    this.#setState("closed");
    return Promise.resolve();
  }

  // ---- internals ----

  #schedule(entry: Unsettled, fate: Fate): void {
    const { attempt } = entry;
    const delay = fate.delayMs ?? 0;
    switch (fate.kind) {
      case "blocked":
      case "not-connected":
        this.#settle(
          entry,
          {
            ok: false,
            error: new TransportError(
              fate.kind,
              fate.kind === "blocked" ? "scripted: connection blocked" : "not connected",
              { sent: false },
            ),
          },
        );
        return;
      case "hold":
      case "lost":
        return;
      case "ok":
        this.#answer(delay, () => {
          if (this.#current(entry)) {
            this.#confirm("ack", attempt.deliveryTag, fate.multiple ?? false);
          }
        });
        return;
      case "nack":
        this.#answer(delay, () => {
          if (this.#current(entry)) this.#confirm("nack", attempt.deliveryTag, false);
        });
        return;
      case "return-hold":
        this.#answer(delay, () => {
          if (this.#current(entry)) entry.returned = true;
        });
        return;
      case "refuse":
        this.#answer(delay, () => {
          if (this.#current(entry)) this.#refuse(entry, fate.code ?? 406, fate.text);
        });
        return;
      case "return":
        this.#answer(delay, () => {
          if (!this.#current(entry)) return;
          // RabbitMQ sends basic.return before the ack: the message is then a failure.
          this.#settle(entry, { ok: false, error: unroutable(attempt.message) });
        });
        return;
      case "channel-close":
      case "broker-close":
        this.#answer(delay, () => {
          if (!this.#current(entry)) return;
          const code = fate.code ?? 320;
          const reason = fate.kind === "broker-close"
            ? `scripted: channel closed by the broker (${code})`
            : "scripted: channel closed";
          if (fate.kind === "broker-close") {
            this.#settle(entry, {
              ok: false,
              error: new TransportError("closed-by-broker", reason, { code, sent: true }),
            });
          }
          this.disconnect(new Error(reason), { reconnectAfterMs: fate.reconnectAfterMs });
        });
        return;
    }
  }

  // Whether an entry still awaits its outcome on the channel it was sent on.
  #current(entry: Unsettled): boolean {
    return entry.attempt.outcome === undefined && entry.attempt.channel === this.#channel &&
      this.#unsettled.get(entry.attempt.deliveryTag) === entry;
  }

  #confirm(kind: "ack" | "nack", deliveryTag: number, multiple: boolean): string[] {
    const tags = multiple
      ? this.unsettledTags().filter((tag) => tag <= deliveryTag)
      : this.#unsettled.has(deliveryTag)
      ? [deliveryTag]
      : [];
    const settled: string[] = [];
    for (const tag of tags) {
      const entry = this.#unsettled.get(tag)!;
      if (kind === "ack" && tag !== deliveryTag && !ACKABLE.has(entry.attempt.fate)) continue;
      settled.push(entry.attempt.messageId);
      if (kind === "ack" && entry.returned) {
        this.#settle(entry, { ok: false, error: unroutable(entry.attempt.message) });
        continue;
      }
      this.#settle(
        entry,
        kind === "ack" ? { ok: true } : {
          ok: false,
          error: new TransportError("nack", "the broker rejected the message (basic.nack)", {
            sent: true,
          }),
        },
      );
    }
    if (settled.length > 0) this.confirms.push({ kind, deliveryTag, multiple, settled });
    return settled;
  }

  #settle(entry: Unsettled, outcome: SendOutcome): void {
    const { attempt, send } = entry;
    if (attempt.outcome !== undefined) return;
    attempt.outcome = outcome.ok ? "ok" : outcome.error.kind;
    if (!outcome.ok) {
      attempt.sent = outcome.error.sent;
      if (outcome.error.code !== undefined) attempt.code = outcome.error.code;
    }
    attempt.settledAt = Date.now();
    this.settlements.push(attempt);
    if (this.#unsettled.get(attempt.deliveryTag) === entry) {
      this.#unsettled.delete(attempt.deliveryTag);
    }
    if (attempt.deliveryTag > 0) this.#countMessages(attempt.exchange, -1);
    send.outcomes[entry.index] = outcome;
    send.onOutcome?.(entry.index, outcome);
    if (--send.remaining === 0) this.#finish(send);
  }

  #finish(send: PendingSend): void {
    if (send.timer !== undefined) {
      clearTimeout(send.timer);
      this.#timers.delete(send.timer);
    }
    const { exchange } = send.record;
    this.#inFlight.set(exchange, (this.#inFlight.get(exchange) ?? 1) - 1);
    send.record.settledAt = Date.now();
    send.resolve(send.outcomes as SendOutcome[]);
  }

  #armTimeout(send: PendingSend): void {
    if (send.remaining === 0 || send.timer !== undefined) return;
    send.armedAt = Date.now();
    send.timer = this.#after(send.timeLeftMs, () => this.#timeOut(send, send.timeoutMs));
  }

  #pendingSends(): Set<PendingSend> {
    return new Set([...this.#unsettled.values()].map((entry) => entry.send));
  }

  #countMessages(exchange: string, delta: number): void {
    const n = (this.#messagesInFlight.get(exchange) ?? 0) + delta;
    this.#messagesInFlight.set(exchange, n);
    if (n > (this.#peakMessages.get(exchange) ?? 0)) this.#peakMessages.set(exchange, n);
  }

  // A broker answer after `ms`; while blocked it waits for the alarm to clear.
  #answer(ms: number, fn: () => void): void {
    this.#after(ms, () => {
      if (this.#state === "blocked") this.#deferred.push(fn);
      else fn();
    });
  }

  // The channel closes because of `entry`: it fails with the broker's code, the
  // others on the channel were not refused; the channel is reopened at once.
  #refuse(entry: Unsettled, code: number, text?: string): string[] {
    const { attempt } = entry;
    const reason = `channel ${attempt.channel} closed: ${text ?? "scripted refusal"} (${code})`;
    const others = [...this.#unsettled.values()].filter((other) => other !== entry);
    this.#unsettled.clear();
    this.#settle(entry, {
      ok: false,
      error: new TransportError("closed-by-broker", reason, { code, sent: true }),
    });
    for (const other of others) {
      // Published before the refused one: the broker had it, its confirm is lost.
      const sent = other.attempt.deliveryTag < attempt.deliveryTag;
      this.#settle(other, {
        ok: false,
        error: new TransportError(
          "channel-closed",
          `the channel closed because of another message: ${reason}`,
          { sent },
        ),
      });
    }
    this.refusals.push({
      channel: attempt.channel,
      messageId: attempt.messageId,
      deliveryTag: attempt.deliveryTag,
      code,
      neighbours: others.map((other) => other.attempt.messageId),
    });
    this.#channel++;
    this.#deliveryTag = 0;
    return others.map((other) => other.attempt.messageId);
  }

  #timeOut(send: PendingSend, timeoutMs: number): void {
    send.timer = undefined;
    const error = new TransportError("timeout", `no publisher confirm within ${timeoutMs} ms`, {
      sent: true,
    });
    for (const entry of [...this.#unsettled.values()]) {
      if (entry.send === send) this.#settle(entry, { ok: false, error });
    }
  }

  #failUnsettled(error: () => TransportError): void {
    const entries = [...this.#unsettled.values()];
    this.#unsettled.clear();
    for (const entry of entries) this.#settle(entry, { ok: false, error: error() });
  }

  #after(ms: number, fn: () => void): Timer {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #clearReconnect(): void {
    if (this.#reconnectTimer === undefined) return;
    clearTimeout(this.#reconnectTimer);
    this.#timers.delete(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
  }

  // The one place the state changes; every change reaches every listener once.
  #setState(to: ConnectionState, error?: Error): void {
    const from = this.#state;
    if (from === to || from === "closed") return;
    this.#state = to;
    const change: ConnectionStateChange = { from, to, at: Date.now(), url: this.url };
    if (error) change.error = error;
    this.changes.push(change);
    for (const listener of this.#listeners) listener(change);
  }
}

function unroutable(message: OutboundMessage): TransportError {
  return new TransportError(
    "unroutable",
    `unroutable: no queue bound for ${JSON.stringify(message.routingKey)} (NO_ROUTE)`,
    { code: 312, sent: true },
  );
}

function toFate(fate: Fate | FateKind): Fate {
  return typeof fate === "string" ? { kind: fate } : fate;
}
