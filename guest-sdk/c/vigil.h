/*
 * vigil.h — write vigil probes in C.
 *
 * The helpers a probe needs (config, secrets, log, steps, metrics, degraded, a GET over
 * wasi:http) on top of the bindings wit-bindgen generates from wit/probe.wit
 * (probe.h / probe.c / probe_component_type.o, committed beside this file). Build a
 * probe with the sources of this folder:
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
 *       -I guest-sdk/c my_probe.c guest-sdk/c/vigil.c guest-sdk/c/probe.c \
 *       guest-sdk/c/probe_component_type.o -Wl,--strip-debug -o my-probe.wasm
 *
 * The result is a wasip1 core module; `vigil probe run my-probe.wasm` adapts it into a
 * component when it loads it (`cargo xtask probes` also writes the adapted component).
 *
 * Conventions: strings in are NUL-terminated UTF-8; strings out (config values, error
 * messages) are malloc'd and yours to free(). A failing helper returns an error
 * message (char *, malloc'd) and NULL on success, so a probe reads like this:
 *
 *   static char *run(void) {
 *       char *url = vigil_require_config("url");
 *       if (!url) return vigil_errorf("config key `url` is not set");
 *       vigil_step_start("fetch");
 *       vigil_response resp;
 *       char *err = vigil_http_get(url, &resp);
 *       if (err) return vigil_step_fail(err);   // "fetch: GET ...: connection refused"
 *       ...
 *       vigil_step_end(true, "");
 *       return NULL;                             // success
 *   }
 *   VIGIL_PROBE(run)
 *
 * See README.md beside this file for the reference.
 */
#ifndef VIGIL_H
#define VIGIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- entry point ---------------------------------------------------------------- */

/*
 * VIGIL_PROBE(fn): export `fn` as the probe's `run`. `fn` is `char *fn(void)`: return
 * NULL when the scenario worked, or a malloc'd message saying what broke (vigil_errorf)
 * — that message is what the operator reads in the alert.
 */
#define VIGIL_PROBE(fn)                                            \
    bool exports_probe_run(probe_string_t *err) {                 \
        return vigil__finish_run((fn)(), err);                    \
    }

/* Internal: turn `fn`'s result into the export's result (takes ownership of msg). */
bool vigil__finish_run(char *msg, probe_string_t *err);

/* ---- errors ----------------------------------------------------------------------- */

/* printf-style: a malloc'd message, to return from `run` or from a helper. */
char *vigil_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- config and secrets ----------------------------------------------------------- */

/* The probe's `config:` value for `key` (malloc'd; free it), or NULL when not set. */
char *vigil_config(const char *key);

/* Like vigil_config, but NULL is also returned for an empty value. */
char *vigil_require_config(const char *key);

/* A secret given to this probe (malloc'd; free it), or NULL. Never log it. */
char *vigil_secret(const char *name);

/* ---- log -------------------------------------------------------------------------- */

typedef enum {
    VIGIL_TRACE = VIGIL_PROBE_HOST_LEVEL_TRACE,
    VIGIL_DEBUG = VIGIL_PROBE_HOST_LEVEL_DEBUG,
    VIGIL_INFO = VIGIL_PROBE_HOST_LEVEL_INFO,
    VIGIL_WARN = VIGIL_PROBE_HOST_LEVEL_WARN,
    VIGIL_ERROR = VIGIL_PROBE_HOST_LEVEL_ERROR,
} vigil_level;

/* printf-style: append one line to the run's log. */
void vigil_log(vigil_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define vigil_info(...) vigil_log(VIGIL_INFO, __VA_ARGS__)
#define vigil_warn(...) vigil_log(VIGIL_WARN, __VA_ARGS__)
#define vigil_error(...) vigil_log(VIGIL_ERROR, __VA_ARGS__)
#define vigil_debug(...) vigil_log(VIGIL_DEBUG, __VA_ARGS__)

/* ---- steps ------------------------------------------------------------------------ */

/* Begin a named step (timed by vigil; HTTP requests inside are attributed to it). */
void vigil_step_start(const char *name);

/* End the innermost step; `detail` may be "" (or NULL). */
void vigil_step_end(bool ok, const char *detail);

/*
 * End the innermost step as failed with `msg` as its detail, and return
 * "<step>: <msg>" (malloc'd) to return from `run`. Takes ownership of `msg`.
 */
char *vigil_step_fail(char *msg);

/* ---- metrics and degraded --------------------------------------------------------- */

/* Record a sample without labels, e.g. vigil_metric("body_bytes", 27). */
void vigil_metric(const char *name, double value);

/* With labels as NULL-terminated name/value pairs:
 * vigil_metric_labels("cart_items", 3, "shop", "eu", NULL). */
void vigil_metric_labels(const char *name, double value, ...);

/* printf-style: the run worked, but badly; the outcome becomes `degraded`. */
void vigil_degraded(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- HTTP ------------------------------------------------------------------------- */

/* A response: status, the whole body (NUL-terminated for convenience) and timing. */
typedef struct {
    uint16_t status;
    char *body;
    size_t body_len;
    /* From sending the request to the last body byte, in milliseconds. */
    double elapsed_ms;
} vigil_response;

/*
 * GET `url` (http:// or https://) and read the whole body. NULL on success (free the
 * response with vigil_response_free); otherwise an error message such as
 * "GET http://127.0.0.1:1/: connection refused" (and `resp` needs no freeing).
 * Any status counts as success here: check resp->status yourself.
 */
char *vigil_http_get(const char *url, vigil_response *resp);

/* Release what vigil_http_get allocated. */
void vigil_response_free(vigil_response *resp);

#ifdef __cplusplus
}
#endif

#endif /* VIGIL_H */
