// The frames of basic.publish (AMQP 0-9-1, section 4.2): a method frame, a
// content header frame with the properties, and the body in frames of at
// most frameMax bytes, encoded for a whole publish() call into one buffer
// that goes to the socket in one write. The client's own basicPublish()
// encodes each short string through a Buffer made for it and each body
// through a new Uint8Array, then writes each message by itself; on two
// shared cores that was a quarter of the publisher's CPU, which the broker
// needs (see the README's performance section). Strings are written byte by
// byte while they are ASCII, which events' ids, types and headers are, and
// through TextEncoder.encodeInto() otherwise.

import type { AMQPProperties, Field } from "@cloudamqp/amqp-client";

/** Properties as the confirm channel holds them: `timestamp` in ms since the epoch. */
export type PublishProperties = Omit<AMQPProperties, "timestamp"> & { timestamp?: number };

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
const CLASS_BASIC = 60;
const METHOD_PUBLISH = 40;
// type (1), channel (2), size (4) before a payload; the end octet after it.
const FRAME_OVERHEAD = 8;
const SHORT_STRING_MAX = 255;

const encoder = new TextEncoder();

/** A short string (or a value of any other field) that AMQP cannot carry. */
export class FrameEncodeError extends Error {
  override name = "FrameEncodeError";
}

/** The frames of one or more publishes, in one growing buffer. */
export class PublishFrames {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  /**
   * @param capacity Bytes to start with; the buffer grows as needed.
   * @param reuse A buffer to write into, when it holds `capacity` (one
   * whose earlier frames were written out already).
   */
  constructor(capacity = 16 * 1024, reuse?: Uint8Array) {
    this.#bytes = reuse !== undefined && reuse.length >= capacity
      ? reuse
      : new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.length);
  }

  /** The whole buffer, to be reused once its frames were written out. */
  get buffer(): Uint8Array {
    return this.#bytes;
  }

  /** The bytes written so far; valid until the next append. */
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#at);
  }

  /**
   * Appends the frames of one publish. On a {@linkcode FrameEncodeError}
   * nothing of this publish is left in the buffer.
   *
   * @param frameMax The connection's largest frame, header and end octet included.
   */
  append(
    channel: number,
    frameMax: number,
    exchange: string,
    routingKey: string,
    mandatory: boolean,
    properties: PublishProperties,
    body: string,
  ): void {
    const start = this.#at;
    try {
      this.#method(channel, exchange, routingKey, mandatory);
      const header = this.#at;
      this.#headerFrame(channel, properties);
      this.#body(channel, frameMax, body, header);
    } catch (error) {
      this.#at = start;
      throw error;
    }
  }

  #method(channel: number, exchange: string, routingKey: string, mandatory: boolean): void {
    this.#ensure(FRAME_OVERHEAD + 7);
    const start = this.#frameStart(FRAME_METHOD, channel);
    this.#view.setUint16(this.#at, CLASS_BASIC);
    this.#view.setUint16(this.#at + 2, METHOD_PUBLISH);
    this.#view.setUint16(this.#at + 4, 0); // reserved (ticket)
    this.#at += 6;
    this.#shortString(exchange, "exchange");
    this.#shortString(routingKey, "routing key");
    this.#ensure(1 + 1);
    this.#bytes[this.#at++] = mandatory ? 1 : 0; // bits: mandatory, immediate
    this.#frameEnd(start);
  }

  #headerFrame(channel: number, p: PublishProperties): void {
    this.#ensure(FRAME_OVERHEAD + 16);
    const start = this.#frameStart(FRAME_HEADER, channel);
    this.#view.setUint16(this.#at, CLASS_BASIC);
    this.#view.setUint16(this.#at + 2, 0); // weight
    // The body size (8 octets) is set once the body is encoded.
    this.#at += 12;
    const flagsAt = this.#at;
    this.#at += 2;
    // The properties in the order of their flag bits, highest first; a
    // string or number property is sent when it is not empty or 0, as the
    // client does.
    let flags = 0;
    if (p.contentType) {
      flags |= 0x8000;
      this.#shortString(p.contentType, "contentType");
    }
    if (p.contentEncoding) {
      flags |= 0x4000;
      this.#shortString(p.contentEncoding, "contentEncoding");
    }
    if (p.headers) {
      flags |= 0x2000;
      this.#table(p.headers, "headers");
    }
    this.#ensure(2);
    if (p.deliveryMode) {
      flags |= 0x1000;
      this.#bytes[this.#at++] = p.deliveryMode;
    }
    if (p.priority) {
      flags |= 0x0800;
      this.#bytes[this.#at++] = p.priority;
    }
    if (p.correlationId) {
      flags |= 0x0400;
      this.#shortString(p.correlationId, "correlationId");
    }
    if (p.replyTo) {
      flags |= 0x0200;
      this.#shortString(p.replyTo, "replyTo");
    }
    if (p.expiration) {
      flags |= 0x0100;
      this.#shortString(p.expiration, "expiration");
    }
    if (p.messageId) {
      flags |= 0x0080;
      this.#shortString(p.messageId, "messageId");
    }
    if (p.timestamp) {
      flags |= 0x0040;
      this.#ensure(8);
      this.#int64(Math.floor(p.timestamp / 1000));
    }
    if (p.type) {
      flags |= 0x0020;
      this.#shortString(p.type, "type");
    }
    if (p.userId) {
      flags |= 0x0010;
      this.#shortString(p.userId, "userId");
    }
    if (p.appId) {
      flags |= 0x0008;
      this.#shortString(p.appId, "appId");
    }
    this.#view.setUint16(flagsAt, flags);
    this.#frameEnd(start);
  }

  // The body frames after the header frame that starts at `header`, whose body size is set here.
  #body(channel: number, frameMax: number, body: string, header: number): void {
    // Room for the body if it is ASCII (one byte a character); more only if it is not.
    this.#ensure(FRAME_OVERHEAD + body.length);
    const start = this.#frameStart(FRAME_BODY, channel);
    const body0 = this.#at;
    let read = 0;
    while (read < body.length) {
      const rest = read === 0 ? body : body.slice(read);
      const done = encoder.encodeInto(rest, this.#bytes.subarray(this.#at));
      this.#at += done.written;
      read += done.read;
      if (read < body.length) this.#ensure(3 * (body.length - read));
    }
    const size = this.#at - body0;
    this.#setInt64(header + 7 + 4, size);
    if (size === 0) {
      // No body frame for an empty body.
      this.#at = start;
      return;
    }
    const most = frameMax - FRAME_OVERHEAD;
    const parts = Math.ceil(size / most);
    if (parts === 1) {
      this.#frameEnd(start);
      return;
    }
    // Larger than one frame: the encoded body is cut into frames where it
    // lies, each part (the last first) moved up by the frame overheads before it.
    this.#ensure(parts * FRAME_OVERHEAD);
    for (let k = parts - 1; k >= 1; k--) {
      const from = body0 + k * most;
      this.#bytes.copyWithin(from + k * FRAME_OVERHEAD, from, Math.min(body0 + size, from + most));
    }
    for (let k = 0; k < parts; k++) {
      const frame = start + k * (most + FRAME_OVERHEAD);
      this.#at = frame;
      this.#frameStart(FRAME_BODY, channel);
      this.#at += Math.min(most, size - k * most);
      this.#frameEnd(frame);
    }
  }

  #frameStart(type: number, channel: number): number {
    const start = this.#at;
    this.#bytes[start] = type;
    this.#view.setUint16(start + 1, channel);
    this.#at += 7; // the size (4 octets) is set by #frameEnd
    return start;
  }

  #frameEnd(start: number): void {
    this.#ensure(1);
    this.#view.setUint32(start + 3, this.#at - start - 7);
    this.#bytes[this.#at++] = FRAME_END;
  }

  #ensure(more: number): void {
    const need = this.#at + more;
    if (need <= this.#bytes.length) return;
    const bytes = new Uint8Array(Math.max(need, 2 * this.#bytes.length));
    bytes.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }

  #int64(value: number): void {
    this.#setInt64(this.#at, value);
    this.#at += 8;
  }

  // A safe integer as 8 octets, two's complement, without a BigInt: the high
  // half's setUint32() wraps a negative quotient as two's complement does.
  #setInt64(at: number, value: number): void {
    this.#view.setUint32(at, Math.floor(value / 2 ** 32));
    this.#view.setUint32(at + 4, value >>> 0);
  }

  // A length octet and the UTF-8 bytes.
  #shortString(value: string, field: string): void {
    this.#ensure(1 + 3 * SHORT_STRING_MAX);
    const at = this.#at;
    const bytes = this.#bytes;
    let n = value.length;
    if (n > SHORT_STRING_MAX) n = -1;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) {
        n = -1;
        break;
      }
      bytes[at + 1 + i] = c;
    }
    if (n < 0) {
      // What does not fit in 765 bytes is longer than 255 anyway.
      n = encoder.encodeInto(value, bytes.subarray(at + 1, at + 1 + 3 * SHORT_STRING_MAX)).written;
      if (n > SHORT_STRING_MAX) {
        throw new FrameEncodeError(
          `${field} is longer than an AMQP short string's ${SHORT_STRING_MAX} bytes: ${
            JSON.stringify(value.slice(0, 40))
          }...`,
        );
      }
    }
    bytes[at] = n;
    this.#at = at + 1 + n;
  }

  #longString(value: string): void {
    this.#ensure(4 + 3 * value.length);
    const at = this.#at + 4;
    const bytes = this.#bytes;
    let n = value.length;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) {
        n = encoder.encodeInto(value, bytes.subarray(at)).written;
        break;
      }
      bytes[at + i] = c;
    }
    this.#view.setUint32(this.#at, n);
    this.#at = at + n;
  }

  // A field table: its size (4 octets), then name (short string) and value of each field.
  #table(table: Record<string, Field>, field: string): void {
    this.#ensure(4);
    const sizeAt = this.#at;
    this.#at += 4;
    for (const name in table) {
      const value = table[name];
      if (value === undefined) continue;
      this.#shortString(name, `${field} name`);
      this.#field(value, `${field}.${name}`);
    }
    this.#view.setUint32(sizeAt, this.#at - sizeAt - 4);
  }

  // A typed value (section 4.2.5.5), as RabbitMQ reads them.
  #field(value: Field, field: string): void {
    this.#ensure(9);
    const bytes = this.#bytes;
    switch (typeof value) {
      case "string":
        bytes[this.#at++] = 0x53; // S: long string
        this.#longString(value);
        return;
      case "boolean":
        bytes[this.#at++] = 0x74; // t
        bytes[this.#at++] = value ? 1 : 0;
        return;
      case "bigint":
        bytes[this.#at++] = 0x6c; // l: signed 64-bit
        this.#view.setBigInt64(this.#at, value);
        this.#at += 8;
        return;
      case "number":
        if (Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) {
          bytes[this.#at++] = 0x49; // I: signed 32-bit
          this.#view.setInt32(this.#at, value);
          this.#at += 4;
        } else if (Number.isSafeInteger(value)) {
          bytes[this.#at++] = 0x6c; // l
          this.#int64(value);
        } else {
          bytes[this.#at++] = 0x64; // d: double, which loses nothing of a JS number
          this.#view.setFloat64(this.#at, value);
          this.#at += 8;
        }
        return;
      case "undefined":
        bytes[this.#at++] = 0x56; // V: void
        return;
      case "object":
        if (value === null) {
          bytes[this.#at++] = 0x56;
        } else if (value instanceof Date) {
          bytes[this.#at++] = 0x54; // T: timestamp in seconds
          this.#int64(Math.floor(value.getTime() / 1000));
        } else if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
          const raw = value instanceof Uint8Array ? value : new Uint8Array(value);
          this.#ensure(5 + raw.length);
          this.#bytes[this.#at++] = 0x78; // x: byte array
          this.#view.setUint32(this.#at, raw.length);
          this.#bytes.set(raw, this.#at + 4);
          this.#at += 4 + raw.length;
        } else if (Array.isArray(value)) {
          bytes[this.#at++] = 0x41; // A: array of values
          this.#ensure(4);
          const sizeAt = this.#at;
          this.#at += 4;
          for (const item of value) {
            this.#field(item, field);
          }
          this.#view.setUint32(sizeAt, this.#at - sizeAt - 4);
        } else {
          bytes[this.#at++] = 0x46; // F: nested table
          this.#table(value as Record<string, Field>, field);
        }
        return;
      default:
        throw new FrameEncodeError(`${field}: a ${typeof value} cannot be an AMQP header value`);
    }
  }
}
