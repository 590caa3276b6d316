/*
 * hello — the smallest useful C probe: fetch `url` and check it answers 200.
 * The same probe as probes/rust/hello, written against guest-sdk/c/vigil.h.
 */
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

static char *run(void) {
    char *url = vigil_require_config("url");
    if (!url)
        return vigil_errorf("config key `url` is not set (vigil probe run ... --set url=http://...)");

    vigil_step_start("fetch");
    vigil_response resp;
    char *err = vigil_http_get(url, &resp);
    if (err) {
        free(url);
        return vigil_step_fail(err);
    }
    vigil_metric("body_bytes", (double)resp.body_len);
    vigil_info("GET %s: status %u in %.0fms, %zu bytes", url, (unsigned)resp.status,
               resp.elapsed_ms, resp.body_len);
    if (resp.status != 200) {
        /* Quote the start of the body, trimmed, as the Rust SDK does. */
        size_t n = resp.body_len < 200 ? resp.body_len : 200;
        while (n > 0 && strchr(" \t\r\n", resp.body[n - 1])) n--;
        err = vigil_errorf("GET %s: expected status 200, got %u (body: %.*s)", url,
                           (unsigned)resp.status, (int)n, resp.body);
        vigil_response_free(&resp);
        free(url);
        return vigil_step_fail(err);
    }
    vigil_step_end(true, "");
    vigil_response_free(&resp);
    free(url);
    return NULL;
}

VIGIL_PROBE(run)
