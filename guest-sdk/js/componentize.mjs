#!/usr/bin/env node
// Build a JavaScript probe into a WebAssembly component vigil can run.
//
//   node guest-sdk/js/componentize.mjs [--wit DIR] [--world NAME] -o OUT.wasm SOURCE.js
//
// SOURCE.js imports the SDK as "vigil" (and any npm package it likes): esbuild bundles it
// into one module, with the WIT imports ("vigil:probe/...", "wasi:...") left for
// componentize-js, which then turns the bundle into a component against the world
// (default: wit/ of this repository, world "probe"). componentize-js is called as a library
// because its CLI cannot read WIT directories here.

import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const usage = 'usage: node componentize.mjs [--wit DIR] [--world NAME] -o OUT.wasm SOURCE.js';

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      wit: { type: 'string', default: resolve(here, '../../wit') },
      world: { type: 'string', default: 'probe' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  fail(`${e.message}\n${usage}`);
}
if (args.values.help) {
  console.log(usage);
  process.exit(0);
}
if (args.positionals.length !== 1 || !args.values.out) fail(usage);

async function load(name) {
  try {
    return await import(name);
  } catch (e) {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
      fail(`${name} is not installed in ${here}/node_modules: run probes/js/setup.sh`);
    }
    throw e;
  }
}

const source = resolve(args.positionals[0]);
const out = resolve(args.values.out);
const esbuild = await load('esbuild');
const { componentize } = await load('@bytecodealliance/componentize-js');

const work = await mkdtemp(join(tmpdir(), 'vigil-js-'));
try {
  const started = Date.now();
  const bundle = join(work, 'probe.js');
  const sdk = join(here, 'vigil.js');
  try {
    await esbuild.build({
      entryPoints: [source],
      outfile: bundle,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'esnext',
      mainFields: ['module', 'main'],
      external: ['vigil:*', 'wasi:*'],
      keepNames: true,
      logLevel: 'silent',
      plugins: [
        {
          name: 'vigil-sdk',
          setup(build) {
            build.onResolve({ filter: /^vigil$/ }, () => ({ path: sdk }));
          },
        },
      ],
    });
  } catch (e) {
    const errors = (e.errors || []).map((m) =>
      m.location ? `${resolve(m.location.file)}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text,
    );
    fail(`cannot bundle ${source}:\n${errors.join('\n') || e.message}`);
  }
  let component;
  try {
    ({ component } = await componentize({
      sourcePath: bundle,
      witPath: resolve(args.values.wit),
      worldName: args.values.world,
    }));
  } catch (e) {
    fail(`componentize-js failed for ${source}: ${e && e.message ? e.message : e}`);
  }
  // Write under a temporary name so a failed build never leaves a half-written probe.
  const partial = `${out}.tmp.${process.pid}`;
  await writeFile(partial, component);
  await rename(partial, out);
  const mb = (component.length / 1e6).toFixed(1);
  console.error(`built ${out} (${mb} MB) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
} finally {
  await rm(work, { recursive: true, force: true });
}
