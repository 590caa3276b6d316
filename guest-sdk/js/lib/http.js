// HTTP over wasi:http with errors that say what went wrong ("GET http://...: connection
// refused"), for probes that want more than fetch's "NetworkError". Every call blocks
// until the whole body has arrived; `await` on it is harmless.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import {
  Fields,
  IncomingBody,
  OutgoingBody,
  OutgoingRequest,
  RequestOptions,
  httpErrorCode,
} from 'wasi:http/types@0.2.12';
import { poll } from 'wasi:io/poll@0.2.12';
import { now, subscribeInstant } from 'wasi:clocks/monotonic-clock@0.2.12';

import { describeErrorCode } from './errors.js';
import { HttpError, HttpResponse, parseTarget } from './response.js';

export { HttpError, HttpResponse } from './response.js';

const READ_CHUNK = 64n * 1024n;
const dispose = Symbol.dispose || Symbol.for('dispose');

/** Drop a wasi resource now, children before parents (a parent dropped first traps). */
function drop(resource) {
  if (resource && typeof resource[dispose] === 'function') resource[dispose]();
}

/** Why an exchange produced no response (the text after "<METHOD> <URL>: "). */
class Failure extends Error {}

function toPairs(headers) {
  if (!headers) return [];
  const entries =
    typeof headers.entries === 'function' && !Array.isArray(headers)
      ? [...headers.entries()]
      : Array.isArray(headers)
        ? headers
        : Object.entries(headers);
  return entries.map(([name, value]) => [String(name), String(value)]);
}

function toBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('body must be a string, Uint8Array, ArrayBuffer or typed array (or use json:)');
}

function formatMs(ms) {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Send one request and return the complete HttpResponse (any status).
 *
 * options: headers (object, Headers or [name, value] pairs); body (string, Uint8Array,
 * ArrayBuffer) or json (any value, sent with content-type application/json unless set);
 * timeout (ms for the whole exchange) and connectTimeout (ms for the connection).
 * Throws HttpError when there is no response (refused, denied by the allow list, timed
 * out, ...).
 */
export function request(method, url, options = {}) {
  method = String(method).toUpperCase();
  url = String(url);
  const pairs = toPairs(options.headers);
  const has = (name) => pairs.some(([n]) => n.toLowerCase() === name);
  let body = options.body;
  if (options.json !== undefined) {
    if (body !== undefined) throw new TypeError('give either body or json, not both');
    body = JSON.stringify(options.json);
    if (!has('content-type')) pairs.push(['content-type', 'application/json']);
  }
  const bytes = toBytes(body);
  let target;
  try {
    target = parseTarget(url);
  } catch (e) {
    throw new HttpError(method, url, e.message);
  }
  if (target.basicAuth && !has('authorization')) pairs.push(['authorization', target.basicAuth]);
  if ((bytes.length > 0 || ['POST', 'PUT', 'PATCH'].includes(method)) && !has('content-length')) {
    pairs.push(['content-length', String(bytes.length)]);
  }
  const started = performance.now();
  let exchanged;
  try {
    exchanged = exchange(method, target, pairs, bytes, options.timeout, options.connectTimeout);
  } catch (e) {
    if (e instanceof Failure) throw new HttpError(method, url, e.message);
    throw e;
  }
  const elapsedMs = performance.now() - started;
  return new HttpResponse(method, url, exchanged.status, exchanged.headerList, exchanged.body, elapsedMs);
}

/** request('GET', url, options) */
export function get(url, options) {
  return request('GET', url, options);
}

/** request('HEAD', url, options) */
export function head(url, options) {
  return request('HEAD', url, options);
}

// post/put/patch take (url, body, options) or, with no body of their own, (url, options):
// a plain object in second place is options, since a body cannot be one.
function withBody(method, url, body, options = {}) {
  const isOptions =
    body !== null &&
    typeof body === 'object' &&
    !(body instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(body);
  if (isOptions) return request(method, url, body);
  return request(method, url, body === undefined ? options : { ...options, body });
}

/** request('POST', url, { ...options, body }); `http.post(url, { json })` for JSON. */
export function post(url, body, options) {
  return withBody('POST', url, body, options);
}

/** request('PUT', url, { ...options, body }) */
export function put(url, body, options) {
  return withBody('PUT', url, body, options);
}

/** request('PATCH', url, { ...options, body }) */
export function patch(url, body, options) {
  return withBody('PATCH', url, body, options);
}

/** request('DELETE', url, options) */
function del(url, options) {
  return request('DELETE', url, options);
}
export { del as delete };

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

function headerError(pairs, error) {
  const names = pairs.map(([n]) => `\`${n}\``).join(', ');
  const tag = error && error.tag;
  if (tag === 'forbidden') {
    if (pairs.some(([n]) => n.toLowerCase() === 'host')) {
      return 'the Host header cannot be set: it comes from the URL';
    }
    return `one of the headers ${names} may not be set by a probe`;
  }
  if (tag === 'invalid-syntax') return `invalid header among ${names} (bad name or value)`;
  return `headers ${names} cannot be changed`;
}

function exchange(method, target, pairs, bytes, timeoutMs, connectTimeoutMs) {
  const describe = (code) => describeErrorCode(code, target.hostPort);
  const toNanos = (ms) => BigInt(Math.max(0, Math.round(ms * 1e6)));
  const deadline = timeoutMs === undefined ? undefined : now() + toNanos(timeoutMs);
  const timedOut = (phase) => new Failure(`timed out after ${formatMs(timeoutMs)} ${phase}`);

  // Block on `pollable` until it is ready (true) or the deadline passes (false).
  const wait = (pollable) => {
    if (deadline === undefined) {
      pollable.block();
      return true;
    }
    if (pollable.ready()) return true;
    const timer = subscribeInstant(deadline);
    try {
      return [...poll([pollable, timer])].includes(0);
    } finally {
      drop(timer);
    }
  };

  let fields;
  try {
    fields = Fields.fromList(pairs.map(([n, v]) => [n, new TextEncoder().encode(v)]));
  } catch (e) {
    throw new Failure(headerError(pairs, e.payload));
  }
  const request = new OutgoingRequest(fields);
  try {
    request.setMethod(METHODS.includes(method) ? { tag: method.toLowerCase() } : { tag: 'other', val: method });
  } catch {
    throw new Failure(`the host rejected the method \`${method}\``);
  }
  try {
    request.setScheme({ tag: target.scheme === 'https' ? 'HTTPS' : 'HTTP' });
    request.setAuthority(target.authority);
    request.setPathWithQuery(target.pathWithQuery);
  } catch {
    throw new Failure('the host rejected the URL');
  }
  const outgoingBody = bytes.length > 0 ? request.body() : undefined;

  const options = new RequestOptions();
  let connect = connectTimeoutMs;
  if (timeoutMs !== undefined) connect = connect === undefined ? timeoutMs : Math.min(connect, timeoutMs);
  // A host that does not support an option refuses it; the deadline still applies.
  const trySet = (set) => {
    try {
      set();
    } catch {
      // unsupported by this host
    }
  };
  if (connect !== undefined) trySet(() => options.setConnectTimeout(toNanos(connect)));
  if (timeoutMs !== undefined) {
    trySet(() => options.setFirstByteTimeout(toNanos(timeoutMs)));
    trySet(() => options.setBetweenBytesTimeout(toNanos(timeoutMs)));
  }

  let pending;
  try {
    pending = handle(request, options);
  } catch (e) {
    throw new Failure(describe(e.payload));
  }

  if (outgoingBody !== undefined) writeBody(outgoingBody, bytes, wait, timedOut, describe);

  let answer;
  try {
    const ready = pending.subscribe();
    try {
      if (!wait(ready)) throw timedOut('waiting for the response');
    } finally {
      drop(ready);
    }
    answer = pending.get();
  } finally {
    drop(pending);
  }
  if (answer === undefined) throw new Failure('the host said the response was ready but had none');
  if (answer.tag !== 'ok') throw new Failure('the response was already taken');
  if (answer.val.tag === 'err') throw new Failure(describe(answer.val.val));
  const response = answer.val.val;

  try {
    const status = response.status();
    const headerFields = response.headers();
    let headerList;
    try {
      const decoder = new TextDecoder();
      headerList = headerFields.entries().map(([name, value]) => [name, decoder.decode(value)]);
    } finally {
      drop(headerFields);
    }
    const incoming = response.consume();
    const chunks = [];
    let total = 0;
    const stream = incoming.stream();
    try {
      const ready = stream.subscribe();
      try {
        for (;;) {
          let chunk;
          try {
            chunk = stream.read(READ_CHUNK);
          } catch (e) {
            const error = e.payload;
            if (error && error.tag === 'closed') break;
            let text = 'unknown stream error';
            if (error && error.tag === 'last-operation-failed') {
              const code = httpErrorCode(error.val);
              text = code !== undefined ? describe(code) : error.val.toDebugString();
            }
            throw new Failure(`reading the response body failed after ${total} bytes: ${text}`);
          }
          if (chunk.length > 0) {
            chunks.push(chunk);
            total += chunk.length;
          } else if (!wait(ready)) {
            throw timedOut(`reading the response body (status ${status}, ${total} bytes received)`);
          }
        }
      } finally {
        drop(ready);
      }
    } finally {
      drop(stream);
    }
    drop(IncomingBody.finish(incoming));
    const body = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      body.set(chunk, at);
      at += chunk.length;
    }
    return { status, headerList, body };
  } finally {
    drop(response);
  }
}

function writeBody(outgoingBody, bytes, wait, timedOut, describe) {
  const failed = (e) => {
    const error = e.payload;
    if (error && error.tag === 'closed') return undefined;
    if (error && error.tag === 'last-operation-failed') {
      const code = httpErrorCode(error.val);
      if (code !== undefined) return new Failure(describe(code));
      return new Failure(`sending the request body failed: ${error.val.toDebugString()}`);
    }
    return e;
  };
  const stream = outgoingBody.write();
  try {
    const ready = stream.subscribe();
    try {
      let rest = bytes;
      let closed = false;
      while (rest.length > 0 && !closed) {
        try {
          const permit = Number(stream.checkWrite());
          if (permit === 0) {
            if (!wait(ready)) throw timedOut('sending the request body');
            continue;
          }
          stream.write(rest.subarray(0, permit));
          rest = rest.subarray(permit);
        } catch (e) {
          if (e instanceof Failure) throw e;
          const error = failed(e);
          if (error !== undefined) throw error;
          closed = true;
        }
      }
      if (!closed) {
        try {
          stream.flush();
          while (Number(stream.checkWrite()) === 0) {
            if (!wait(ready)) throw timedOut('sending the request body');
          }
        } catch (e) {
          if (e instanceof Failure) throw e;
          const error = failed(e);
          if (error !== undefined) throw error;
        }
      }
    } finally {
      drop(ready);
    }
  } finally {
    drop(stream);
  }
  try {
    OutgoingBody.finish(outgoingBody, undefined);
  } catch (e) {
    throw new Failure(describe(e.payload));
  }
}
