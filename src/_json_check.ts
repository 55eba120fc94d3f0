// Finding the values that JSON.stringify would drop, change or refuse, with
// the path to the first one, so that an event is sent as it was given.

/** The first value JSON would not keep as it is: where it is, and what to do. */
export interface NotJson {
  /** The path to it, for example `data.tags` or `data.items[2].price`. */
  path: string;
  /** What it is and what to send instead, without the path. */
  problem: string;
}

interface Found {
  // Innermost first: pushed while the walk unwinds, reversed once at the top.
  keys: (string | number)[];
  problem: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
// Deeper than any event needs, well within the call stack (the walk recurses),
// and it bounds the cycle check, which scans the ancestors of each object.
const MAX_DEPTH = 1_000;

/**
 * Walks a value as `JSON.stringify` would and returns the first value it
 * would silently change (`Map`, `Set`, class instances without `toJSON`,
 * `NaN`, `±Infinity`, an invalid `Date`, `undefined` or a function in an
 * array), drop (a function or symbol property) or refuse (a `BigInt`, a
 * cycle). A property whose value is `undefined` is fine: it is omitted, and
 * reads back as `undefined`. An object with a `toJSON()` method (such as a
 * `Date`) is trusted to return JSON. Nesting deeper than 1,000 levels is
 * refused.
 *
 * The walk allocates nothing unless it finds something: the path is built
 * only then.
 *
 * @param value The value to check.
 * @param root The name of the value, the first part of the path.
 * @returns `undefined` when JSON keeps the value as it is.
 */
export function findNotJson(value: unknown, root: string): NotJson | undefined {
  let found: Found | undefined;
  try {
    found = check(value, false, []);
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw cause;
    return { path: root, problem: "nesting too deep to encode; flatten it" };
  }
  if (found === undefined) return undefined;
  let path = root;
  for (let i = found.keys.length - 1; i >= 0; i--) {
    const key = found.keys[i];
    path += typeof key === "number"
      ? `[${key}]`
      : IDENTIFIER.test(key)
      ? `.${key}`
      : `[${JSON.stringify(key)}]`;
  }
  return { path, problem: found.problem };
}

function check(value: unknown, inArray: boolean, ancestors: object[]): Found | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : problem(
        `${value} is not JSON (it would become null); send a finite number, null or a string`,
      );
    case "undefined":
      return inArray
        ? problem("undefined in an array is not JSON (it would become null); use null")
        : undefined;
    case "bigint":
      return problem(`BigInt (${value}n) is not JSON; convert it to a string or a number`);
    case "function":
      return problem("a function is not JSON (it would be dropped); remove it");
    case "symbol":
      return problem("a symbol is not JSON (it would be dropped); convert it to a string");
  }
  if (value === null) return undefined;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === "function") {
    return object instanceof Date && Number.isNaN(object.getTime())
      ? problem("Invalid Date is not JSON (it would become null); send a valid Date or null")
      : undefined;
  }
  if (ancestors.includes(object)) {
    return problem("a circular reference is not JSON; send a tree, not a graph");
  }
  if (ancestors.length === MAX_DEPTH) {
    return problem(`nesting deeper than ${MAX_DEPTH} levels is refused; flatten it`);
  }
  if (Array.isArray(object)) {
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      const found = check(object[i], true, ancestors);
      if (found !== undefined) return found.keys.push(i), found;
    }
    ancestors.pop();
    return undefined;
  }
  if (!isPlain(object)) return problem(notPlain(object));
  ancestors.push(object);
  for (const key in object) {
    const found = check(object[key], false, ancestors);
    if (found !== undefined) return found.keys.push(key), found;
  }
  ancestors.pop();
  return undefined;
}

function problem(text: string): Found {
  return { keys: [], problem: text };
}

function isPlain(object: object): boolean {
  const proto = Object.getPrototypeOf(object);
  if (proto === Object.prototype || proto === null) return true;
  // A plain object from another realm (a worker's message, node:vm) has that
  // realm's Object.prototype.
  return Object.getPrototypeOf(proto) === null && proto.constructor?.name === "Object";
}

function notPlain(object: object): string {
  if (object instanceof Map) return "Map is not JSON; convert it to an array or object";
  if (object instanceof Set) return "Set is not JSON; convert it to an array";
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    const name = object.constructor.name;
    return `${name} is not JSON; convert it to an array of numbers or a base64 string`;
  }
  if (object instanceof RegExp) return "RegExp is not JSON (it would become {}); send its source";
  if (object instanceof Error) {
    return `${object.name} is not JSON (it would lose its message); send { name, message }`;
  }
  if (object instanceof Promise) return "a Promise is not JSON; await it first";
  if (object instanceof String || object instanceof Number || object instanceof Boolean) {
    return `a ${object.constructor.name} object is not JSON; send the primitive value`;
  }
  const name = Object.getPrototypeOf(object)?.constructor?.name;
  return `${name ? `a ${name} instance` : "an object with a custom prototype"} is not JSON ` +
    "(it would lose its class); give the class a toJSON() method or send a plain object";
}
