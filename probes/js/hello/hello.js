// The smallest useful JavaScript probe: fetch `url` and check it answers 200.
// See README.md next to this file.

import { http, log, metric, probe, requireConfig, step } from 'vigil';

export const run = probe(async () => {
  const url = requireConfig('url');
  await step('fetch', async () => {
    const resp = await http.get(url);
    metric('body_bytes', resp.body.length);
    log.info(`GET ${url}: status ${resp.status} in ${Math.round(resp.elapsedMs)}ms, ${resp.body.length} bytes`);
    resp.expectStatus(200);
  });
});
