// The parts of the HTTP client that need no host: URL checks, the response type and its
// assertions. Pure, so node can test it.

import { ProbeError } from './errors.js';

export const SNIPPET_BYTES = 200;

/** A request that got no response: "<METHOD> <URL>: <what went wrong>". */
export class HttpError extends ProbeError {
  constructor(method, url, reason) {
    super(`${method} ${url}: ${reason}`);
    this.name = 'HttpError';
    this.method = method;
    this.url = url;
    this.reason = reason;
  }
}

/**
 * What wasi:http needs from a URL: { scheme, authority, pathWithQuery, hostPort,
 * basicAuth }. Throws an Error saying what is wrong with it.
 */
export function parseTarget(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('not an absolute URL (expected http://host/... or https://host/...)');
  }
  const scheme = parsed.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    throw new Error(`unsupported scheme \`${scheme}\` (expected http or https)`);
  }
  if (!parsed.hostname) throw new Error('no host in the URL');
  const port = parsed.port || (scheme === 'https' ? '443' : '80');
  let basicAuth;
  if (parsed.username || parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    basicAuth = `Basic ${btoa(String.fromCharCode(...bytes))}`;
  }
  return {
    scheme,
    authority: parsed.host,
    pathWithQuery: (parsed.pathname || '/') + parsed.search,
    hostPort: `${parsed.hostname}:${port}`,
    basicAuth,
  };
}

/** "body: <first 200 bytes, whitespace collapsed>", "… (N bytes)" when cut, or "empty body". */
export function bodySnippet(body) {
  if (!body || body.length === 0) return 'empty body';
  const head = body.subarray(0, SNIPPET_BYTES);
  // A character cut in half decodes to U+FFFD at the end: drop it.
  let text = new TextDecoder().decode(head);
  if (body.length > SNIPPET_BYTES) text = text.replace(/\uFFFD+$/, '');
  text = text.split(/\s+/).filter(Boolean).join(' ');
  if (body.length > SNIPPET_BYTES) text += `… (${body.length} bytes)`;
  return `body: ${text}`;
}

/**
 * A complete HTTP response: method and url of the request, status, headers (object of
 * lower-case name to value, repeats joined with ", "), headerList ([name, value] pairs as
 * received), body (Uint8Array) and elapsedMs (sending the request to the last body byte).
 */
export class HttpResponse {
  constructor(method, url, status, headerList, body, elapsedMs) {
    this.method = method;
    this.url = url;
    this.status = status;
    this.headerList = headerList;
    this.headers = {};
    for (const [name, value] of headerList) {
      const key = name.toLowerCase();
      this.headers[key] = key in this.headers ? `${this.headers[key]}, ${value}` : value;
    }
    this.body = body;
    this.elapsedMs = elapsedMs;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The body decoded as UTF-8. */
  get text() {
    return new TextDecoder().decode(this.body);
  }

  /** The body parsed as JSON; a ProbeError quoting the body when it is not JSON. */
  json() {
    try {
      return JSON.parse(this.text);
    } catch (e) {
      throw this.fail(`body is not JSON (${e.message})`);
    }
  }

  /** The value of header `name` (any case), else `fallback`. */
  header(name, fallback) {
    const value = this.headers[String(name).toLowerCase()];
    return value === undefined ? fallback : value;
  }

  /** This response when its status is one of `expected`; else throws
   *  "GET http://...: expected status 200, got 503 (body: ...)". */
  expectStatus(...expected) {
    if (expected.includes(this.status)) return this;
    throw this.fail(`expected status ${expected.join(' or ')}, got ${this.status}`);
  }

  /** This response when its status is 2xx; else throws
   *  "GET http://...: expected a 2xx status, got 503 (body: ...)". */
  expectSuccess() {
    if (this.ok) return this;
    throw this.fail(`expected a 2xx status, got ${this.status}`);
  }

  /** This response when the body contains `needle`; else throws
   *  'GET http://...: body does not contain "Welcome" (status 200, body: ...)'. */
  expectBodyContains(needle) {
    if (this.text.includes(needle)) return this;
    throw new ProbeError(
      `${this.method} ${this.url}: body does not contain ${JSON.stringify(needle)} ` +
        `(status ${this.status}, ${this.bodySnippet()})`,
    );
  }

  /** An error about this response, "<METHOD> <URL>: <what> (body: ...)", for your own
   *  checks: `throw resp.fail("the cart is empty")`. */
  fail(what) {
    return new ProbeError(`${this.method} ${this.url}: ${what} (${this.bodySnippet()})`);
  }

  /** See bodySnippet(). */
  bodySnippet() {
    return bodySnippet(this.body);
  }
}
