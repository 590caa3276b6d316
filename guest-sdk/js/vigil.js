// vigil's JavaScript guest SDK: the probe's entry point, steps, metrics, config, secrets,
// the degraded flag, logs and an HTTP client over wasi:http. Probes import it as "vigil";
// componentize.mjs bundles it into the component. Reference: README.md next to this file.

import * as host from 'vigil:probe/host@0.1.0';

import { ProbeError, isFetchNetworkError, messageOf } from './lib/errors.js';

export { ProbeError, messageOf } from './lib/errors.js';
export * as http from './lib/http.js';

/**
 * Make `fn` the probe's entry point: `export const run = probe(async () => { ... })`.
 *
 * `fn` takes no arguments and may be async. Returning means the scenario worked; throwing
 * (or rejecting with) anything means it failed, and the thrown value's message becomes the
 * run's failure reason (see messageOf). The run then ends with a clean `err`, never a trap,
 * whatever was thrown.
 */
export function probe(fn) {
  if (typeof fn !== 'function') throw new TypeError('probe(fn): fn must be a function');
  return async function run() {
    try {
      await fn();
    } catch (e) {
      logStack(e);
      // A string is the one thing componentize-js turns into `err(string)`: an Error
      // object would trap the instance instead.
      throw messageOf(e);
    }
  };
}

// An error that is not a ProbeError is probably a bug in the probe: keep its stack in the
// run's log (level debug) so the author can find it.
function logStack(e) {
  let root = e;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  if (root instanceof Error && !(root instanceof ProbeError) && !isFetchNetworkError(root) && root.stack) {
    try {
      host.log('debug', `${root.name}: ${root.message}\n${root.stack}`.trimEnd());
    } catch {
      // logging is best effort; the failure itself is what matters
    }
  }
}

function stepFailed(name, e) {
  const message = messageOf(e);
  host.stepEnd(false, message);
  return new ProbeError(`${name}: ${message}`, { cause: e });
}

/**
 * A named, timed phase of the scenario: `await step('login', async () => { ... })`.
 *
 * Returns what `fn` returns (a promise when `fn` is async). vigil reports
 * probe_step_success and probe_step_duration_seconds for it, and HTTP requests made inside
 * are attributed to it. When `fn` throws or rejects, the step ends failed with the error's
 * message as its detail, and the error is thrown again as a ProbeError prefixed with the
 * step's name ("login: POST http://...: connection refused"). Steps nest; vigil keeps them
 * as a stack, so await one step before starting the next rather than running two at once.
 */
export function step(name, fn) {
  name = String(name);
  if (typeof fn !== 'function') throw new TypeError(`step('${name}', fn): fn must be a function`);
  host.stepStart(name);
  let result;
  try {
    result = fn();
  } catch (e) {
    throw stepFailed(name, e);
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return Promise.resolve(result).then(
      (value) => {
        host.stepEnd(true, '');
        return value;
      },
      (e) => {
        throw stepFailed(name, e);
      },
    );
  }
  host.stepEnd(true, '');
  return result;
}

/**
 * Record a sample: `metric('cart_items', 3, { shop: 'eu' })`. Labels are an object, a Map
 * or [name, value] pairs. Invalid names are dropped by vigil with a warning in the log;
 * the same name and labels twice keep the last value.
 */
export function metric(name, value, labels = {}) {
  let pairs;
  if (labels instanceof Map || Array.isArray(labels)) pairs = [...labels];
  else pairs = Object.entries(labels || {});
  host.metric(String(name), Number(value), pairs.map(([k, v]) => [String(k), String(v)]));
}

/** The value of `key` in the probe's `config:` (or `--set key=...`), else `fallback`. */
export function config(key, fallback) {
  const value = host.config(String(key));
  return value === undefined ? fallback : value;
}

/** The value of `key` in the probe's `config:`; a ProbeError saying how to set it when it
 *  is missing or blank. */
export function requireConfig(key) {
  const value = host.config(String(key));
  if (value === undefined) {
    throw new ProbeError(
      `missing config key \`${key}\`: set it under the probe's \`config:\` in vigil.yaml (or \`--set ${key}=...\`)`,
    );
  }
  if (value.trim() === '') {
    throw new ProbeError(
      `config key \`${key}\` is empty: give it a value under the probe's \`config:\` in vigil.yaml (or \`--set ${key}=...\`)`,
    );
  }
  return value;
}

/** The secret `name` given to this probe (`secrets:` in vigil.yaml, or `--secret
 *  name=...`), else `fallback`. Never log it. */
export function secret(name, fallback) {
  const value = host.secret(String(name));
  return value === undefined ? fallback : value;
}

/** The secret `name`; a ProbeError saying how to give it when it is missing. */
export function requireSecret(name) {
  const value = host.secret(String(name));
  if (value === undefined) {
    throw new ProbeError(
      `missing secret \`${name}\`: give it to this probe under \`secrets:\` in vigil.yaml (or \`--secret ${name}=...\`)`,
    );
  }
  return value;
}

/** Mark this run degraded: it worked, but not well. If the probe then succeeds, its
 *  outcome is `degraded` with this reason (the last call wins). */
export function degraded(reason) {
  host.degraded(String(reason));
}

const logAt = (level) => (message) => host.log(level, String(message));

/** Lines in the run's log: log.info('...'), log.warn('...'), ... (console.log works too). */
export const log = {
  trace: logAt('trace'),
  debug: logAt('debug'),
  info: logAt('info'),
  warn: logAt('warn'),
  error: logAt('error'),
};
