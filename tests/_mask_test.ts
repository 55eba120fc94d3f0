import assert from "node:assert/strict";
import { maskCredentials, maskUrl } from "../src/_mask.ts";
import { BAD_URLS, PASSWORD } from "./config/_helpers.ts";

Deno.test("maskUrl() replaces the password with ***", () => {
  const cases: [string, string][] = [
    ["amqp://guest:guest@host:5672/vh", "amqp://guest:***@host:5672/vh"],
    ["amqps://app:p%40ss@rabbit.example.com", "amqps://app:***@rabbit.example.com"],
    ["amqp://app:p@ss@host/vh?x=1", "amqp://app:***@host/vh?x=1"],
    ["amqp://app:@host", "amqp://app:***@host"],
    ["amqp://app@host:5672", "amqp://app@host:5672"],
    ["amqp://host:5672/vh@x", "amqp://host:5672/vh@x"],
    ["amqp://localhost", "amqp://localhost"],
    ["", ""],
    ["not a url", "not a url"],
    ["amqp://u:pa/ss@host", "amqp://u:***@host"],
    ["user:secret@host", "user:***@host"],
    ["amqp:/user:secret@host", "amqp:***@host"],
  ];
  for (const [url, masked] of cases) assert.equal(maskUrl(url), masked, url);
});

Deno.test("maskUrl() never throws", () => {
  for (const value of ["::::", "@@@", "amqp://[", "amqp://u:p@[::1", "\u0000", "%zz"]) {
    assert.equal(typeof maskUrl(value), "string");
  }
});

Deno.test("maskUrl() hides the password of a URL that is malformed", () => {
  for (const url of BAD_URLS) assert.ok(!maskUrl(url).includes(PASSWORD), maskUrl(url));
});

Deno.test("maskCredentials() masks every URL password inside a text", () => {
  assert.equal(
    maskCredentials(
      `connect amqp://a:${PASSWORD}@h1:5672/vh failed; tried amqps://b:x@y@h2 and amqp://h3:5672`,
    ),
    "connect amqp://a:***@h1:5672/vh failed; tried amqps://b:***@h2 and amqp://h3:5672",
  );
  assert.equal(
    maskCredentials(`"url":"amqp://u:${PASSWORD}@h","note":"mail a@b"`),
    `"url":"amqp://u:***@h","note":"mail a@b"`,
  );
  assert.equal(maskCredentials("no credentials here"), "no credentials here");
  assert.equal(maskCredentials("amqp://u:p@h,amqp://v:q@i"), "amqp://u:***@h,amqp://v:***@i");
});
