// Masking of credentials in URLs and in texts that contain URLs, for every
// log line, error and report: a password never leaves the process.

/**
 * Masks the password of a URL with `***`, keeping the rest as written. Never
 * throws: a string that is not a URL is returned as it is, unless it holds a
 * `scheme://user:password@` part, which is masked too.
 *
 * @param url The URL, possibly with credentials.
 * @returns The URL with its password replaced by `***`.
 *
 * @example
 * ```ts
 * import { maskUrl } from "./_mask.ts";
 *
 * console.log(maskUrl("amqp://guest:guest@host:5672/vh")); // amqp://guest:***@host:5672/vh
 * ```
 */
export function maskUrl(url: string): string {
  let parsed = true;
  try {
    new URL(url);
  } catch {
    parsed = false;
  }
  const scheme = /^[a-z][a-z\d+.-]*:\/\//i.exec(url)?.[0] ?? "";
  const rest = url.slice(scheme.length);
  // A URL's user info ends at the last "@" of its authority, so a password may
  // hold "@". When the string does not parse, the password may also hold a
  // delimiter, so everything up to the last "@" is masked.
  const end = parsed && scheme !== "" ? rest.search(/[/?#]|$/) : rest.length;
  const at = rest.slice(0, end).lastIndexOf("@");
  const colon = rest.indexOf(":");
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${scheme}${rest.slice(0, colon + 1)}***${rest.slice(at)}`;
}

/**
 * Masks the password of every `scheme://user:password@` inside a text, for
 * error messages and logs.
 *
 * @param text Any text.
 * @returns The text with every URL password replaced by `***`.
 *
 * @example
 * ```ts
 * import { maskCredentials } from "./_mask.ts";
 *
 * console.log(maskCredentials("connect to amqp://app:s3cret@rabbit:5672 failed"));
 * // connect to amqp://app:***@rabbit:5672 failed
 * ```
 */
export function maskCredentials(text: string): string {
  // Greedy up to the last "@" before the end of the authority, as maskUrl does.
  return text.replace(
    /([a-z][a-z\d+.-]*:\/\/[^\s/?#@:"'<>]*:)[^\s/?#"'<>]*@/gi,
    "$1***@",
  );
}
