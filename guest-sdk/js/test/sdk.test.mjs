// Unit tests for the JavaScript SDK under node: the pure modules directly, and vigil.js
// bundled (by the same esbuild the build uses) against a recording stand-in for the
// vigil:probe/host interface. Run: cd guest-sdk/js && npm test
// (the end-to-end behaviour inside vigil is covered by tests/languages.rs).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as esbuild from 'esbuild';

import { ProbeError, describeErrorCode, messageOf } from '../lib/errors.js';
import { HttpResponse, bodySnippet, parseTarget } from '../lib/response.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('messages', () => {
  test('ProbeErrors and plain Errors by their message, others with their type', () => {
    assert.equal(messageOf(new ProbeError('cart is empty')), 'cart is empty');
    assert.equal(messageOf(new Error('boom')), 'boom');
    assert.equal(messageOf(new RangeError('too far')), 'RangeError: too far');
    assert.equal(messageOf('plain'), 'plain');
    assert.equal(messageOf({ code: 42 }), '{"code":42}');
    assert.equal(messageOf(undefined), 'threw undefined');
  });

  test("fetch's NetworkError says where to look", () => {
    const e = new TypeError('NetworkError when attempting to fetch resource.');
    assert.match(messageOf(e), /^fetch got no response \(NetworkError .*\): the run's http section says why$/);
  });

  test('error codes read like the Rust SDK', () => {
    const at = '127.0.0.1:1';
    assert.equal(describeErrorCode({ tag: 'connection-refused' }, at), 'connection refused');
    assert.equal(
      describeErrorCode({ tag: 'HTTP-request-denied' }, at),
      "request denied by vigil's sandbox (is 127.0.0.1:1 in the probe's `allow` list?)",
    );
    assert.equal(
      describeErrorCode({ tag: 'DNS-error', val: { rcode: 'address not available', infoCode: undefined } }, at),
      'DNS lookup failed (address not available)',
    );
    assert.equal(
      describeErrorCode({ tag: 'HTTP-response-body-size', val: 1024n }, at),
      'response body over the size limit (at 1024 bytes)',
    );
  });
});

describe('URLs and responses', () => {
  test('URL parts', () => {
    assert.deepEqual(parseTarget('http://127.0.0.1:8080/a/b?x=1#frag'), {
      scheme: 'http',
      authority: '127.0.0.1:8080',
      pathWithQuery: '/a/b?x=1',
      hostPort: '127.0.0.1:8080',
      basicAuth: undefined,
    });
    const t = parseTarget('https://user:pa%20ss@[::1]');
    assert.equal(t.authority, '[::1]');
    assert.equal(t.hostPort, '[::1]:443');
    assert.equal(t.basicAuth, 'Basic dXNlcjpwYSBzcw==');
    assert.throws(() => parseTarget('ftp://x/'), /unsupported scheme `ftp`/);
    assert.throws(() => parseTarget('/relative'), /not an absolute URL/);
  });

  test('status failures quote the body', () => {
    const enc = (s) => new TextEncoder().encode(s);
    const resp = new HttpResponse('GET', 'http://127.0.0.1:8080/login', 401, [], enc('{"error":\n  "bad password"}'), 5);
    assert.throws(() => resp.expectStatus(200), {
      message: 'GET http://127.0.0.1:8080/login: expected status 200, got 401 (body: {"error": "bad password"})',
    });
    assert.equal(bodySnippet(enc('a'.repeat(300))), `body: ${'a'.repeat(200)}… (300 bytes)`);
    assert.equal(bodySnippet(new Uint8Array(0)), 'empty body');
    // A multi-byte character cut at byte 200 is dropped, not shown as U+FFFD.
    assert.equal(bodySnippet(enc(`${'a'.repeat(199)}é${'b'.repeat(10)}`)), `body: ${'a'.repeat(199)}… (211 bytes)`);
    const ok = new HttpResponse('GET', 'http://x/', 200, [['X-Multi', 'a'], ['x-multi', 'b']], enc('{"n":3}'), 1);
    assert.equal(ok.header('x-MULTI'), 'a, b');
    assert.deepEqual(ok.expectStatus(200, 204).expectSuccess().json(), { n: 3 });
    assert.throws(() => ok.expectBodyContains('Welcome'), /body does not contain "Welcome" \(status 200, body: \{"n":3\}\)/);
  });
});

describe('probe, step and the host calls', () => {
  let work;
  let sdk;
  const calls = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'vigil-js-test-'));
    const out = join(work, 'sdk.mjs');
    globalThis.__vigilFakeHost = {
      calls,
      config: { url: 'http://x/', blank: '  ' },
      secrets: { pw: 's3' },
    };
    await esbuild.build({
      entryPoints: [join(here, '..', 'vigil.js')],
      outfile: out,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      logLevel: 'silent',
      plugins: [
        {
          name: 'fake-host',
          setup(build) {
            build.onResolve({ filter: /^(vigil|wasi):/ }, (args) => ({ path: args.path, namespace: 'fake' }));
            build.onLoad({ filter: /.*/, namespace: 'fake' }, (args) => ({
              contents: args.path.startsWith('vigil:probe/host')
                ? `const h = globalThis.__vigilFakeHost;
                   export const log = (level, message) => h.calls.push(['log', level, message]);
                   export const stepStart = (name) => h.calls.push(['stepStart', name]);
                   export const stepEnd = (ok, detail) => h.calls.push(['stepEnd', ok, detail]);
                   export const metric = (name, value, labels) => h.calls.push(['metric', name, value, labels]);
                   export const config = (key) => h.config[key];
                   export const secret = (name) => h.secrets[name];
                   export const degraded = (reason) => h.calls.push(['degraded', reason]);`
                : // wasi imports: the HTTP client is not exercised here.
                  `export const handle = undefined, Fields = undefined, IncomingBody = undefined,
                     OutgoingBody = undefined, OutgoingRequest = undefined, RequestOptions = undefined,
                     httpErrorCode = undefined, poll = undefined, now = undefined, subscribeInstant = undefined;`,
              loader: 'js',
            }));
          },
        },
      ],
    });
    sdk = await import(pathToFileURL(out).href);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('any thrown value becomes a string (the err), never an Error object', async () => {
    for (const [thrown, want] of [
      [new TypeError("can't access property"), "TypeError: can't access property"],
      [{ code: 42 }, '{"code":42}'],
      ['plain', 'plain'],
    ]) {
      const run = sdk.probe(async () => {
        throw thrown;
      });
      await assert.rejects(run(), (e) => e === want);
    }
    await sdk.probe(() => {})();
  });

  test('async steps end when their promise settles, failures prefixed with the name', async () => {
    calls.length = 0;
    const run = sdk.probe(async () => {
      const n = sdk.step('sync', () => 41) + 1;
      sdk.metric('answer', n, { kind: 'x' });
      await sdk.step('outer', async () => {
        await sdk.step('inner', async () => {
          await Promise.resolve();
          throw new sdk.ProbeError('boom');
        });
      });
    });
    await assert.rejects(run(), (e) => e === 'outer: inner: boom');
    assert.deepEqual(calls, [
      ['stepStart', 'sync'],
      ['stepEnd', true, ''],
      ['metric', 'answer', 42, [['kind', 'x']]],
      ['stepStart', 'outer'],
      ['stepStart', 'inner'],
      ['stepEnd', false, 'boom'],
      ['stepEnd', false, 'inner: boom'],
    ]);
  });

  test('a bug keeps its stack in the log at level debug', async () => {
    calls.length = 0;
    await assert.rejects(
      sdk.probe(() => {
        null.x;
      })(),
    );
    assert.ok(calls.some(([kind, level, text]) => kind === 'log' && level === 'debug' && text.startsWith('TypeError')));
  });

  test('config, secrets, degraded, log', () => {
    calls.length = 0;
    assert.equal(sdk.requireConfig('url'), 'http://x/');
    assert.equal(sdk.config('nope', 'dflt'), 'dflt');
    assert.equal(sdk.secret('pw'), 's3');
    assert.throws(() => sdk.requireConfig('nope'), {
      message: "missing config key `nope`: set it under the probe's `config:` in vigil.yaml (or `--set nope=...`)",
    });
    assert.throws(() => sdk.requireConfig('blank'), /config key `blank` is empty/);
    assert.throws(() => sdk.requireSecret('nope'), /missing secret `nope`/);
    sdk.degraded('slow');
    sdk.log.warn('careful');
    assert.deepEqual(calls, [
      ['degraded', 'slow'],
      ['log', 'warn', 'careful'],
    ]);
  });
});
