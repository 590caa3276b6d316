/*
 * vigil.c — the helpers declared in vigil.h, over the wit-bindgen C bindings (probe.h).
 *
 * Ownership follows the canonical ABI as wit-bindgen's C generator exposes it: strings
 * passed to an import are borrowed (probe_string_set, no copy), strings and lists an
 * import returns are ours to free, `own` handles are dropped exactly once, children
 * (a body's stream) before parents (the body, the response).
 */
#include "vigil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------ */

static char *vformat(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) n = 0;
    char *buf = malloc((size_t)n + 1);
    if (!buf) abort();
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    return buf;
}

char *vigil_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return msg;
}

/* A NUL-terminated copy of a component string; frees `s`. */
static char *take_string(probe_string_t *s) {
    char *out = malloc(s->len + 1);
    if (!out) abort();
    memcpy(out, s->ptr, s->len);
    out[s->len] = '\0';
    probe_string_free(s);
    return out;
}

static void borrowed(probe_string_t *s, const char *text) {
    probe_string_set(s, text ? text : "");
}

bool vigil__finish_run(char *msg, probe_string_t *err) {
    if (!msg) return true;
    if (!msg[0]) {
        /* An empty message would tell the operator nothing. */
        free(msg);
        msg = vigil_errorf("the probe failed without saying why");
    }
    /* The export's post-return hook free()s the string: hand over the malloc'd bytes. */
    err->ptr = (uint8_t *)msg;
    err->len = strlen(msg);
    return false;
}

/* ---- config and secrets --------------------------------------------------------------- */

char *vigil_config(const char *key) {
    probe_string_t k, value;
    borrowed(&k, key);
    if (!vigil_probe_host_config(&k, &value)) return NULL;
    return take_string(&value);
}

char *vigil_require_config(const char *key) {
    char *value = vigil_config(key);
    if (value && !value[0]) {
        free(value);
        return NULL;
    }
    return value;
}

char *vigil_secret(const char *name) {
    probe_string_t n, value;
    borrowed(&n, name);
    if (!vigil_probe_host_secret(&n, &value)) return NULL;
    return take_string(&value);
}

/* ---- log ------------------------------------------------------------------------------ */

void vigil_log(vigil_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *line = vformat(fmt, ap);
    va_end(ap);
    probe_string_t s;
    borrowed(&s, line);
    vigil_probe_host_log((vigil_probe_host_level_t)level, &s);
    free(line);
}

/* ---- steps ------------------------------------------------------------------------------ */

/* Names of the open steps, innermost last, so a failure can say where it happened. */
#define VIGIL_MAX_STEPS 32
static char *open_steps[VIGIL_MAX_STEPS];
static int open_count;

void vigil_step_start(const char *name) {
    probe_string_t s;
    borrowed(&s, name);
    vigil_probe_host_step_start(&s);
    if (open_count < VIGIL_MAX_STEPS) open_steps[open_count] = strdup(name ? name : "");
    open_count++;
}

void vigil_step_end(bool ok, const char *detail) {
    probe_string_t s;
    borrowed(&s, detail);
    vigil_probe_host_step_end(ok, &s);
    if (open_count > 0) {
        open_count--;
        if (open_count < VIGIL_MAX_STEPS) {
            free(open_steps[open_count]);
            open_steps[open_count] = NULL;
        }
    }
}

char *vigil_step_fail(char *msg) {
    const char *text = msg ? msg : "failed";
    char *name = NULL;
    if (open_count > 0 && open_count <= VIGIL_MAX_STEPS && open_steps[open_count - 1])
        name = strdup(open_steps[open_count - 1]);
    vigil_step_end(false, text);
    char *out = name ? vigil_errorf("%s: %s", name, text) : vigil_errorf("%s", text);
    free(name);
    free(msg);
    return out;
}

/* ---- metrics and degraded ----------------------------------------------------------- */

void vigil_metric(const char *name, double value) {
    probe_string_t n;
    borrowed(&n, name);
    probe_list_tuple2_string_string_t labels = {NULL, 0};
    vigil_probe_host_metric(&n, value, &labels);
}

void vigil_metric_labels(const char *name, double value, ...) {
    probe_tuple2_string_string_t pairs[16];
    size_t count = 0;
    va_list ap;
    va_start(ap, value);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (!v) break;
        if (count < sizeof pairs / sizeof pairs[0]) {
            borrowed(&pairs[count].f0, k);
            borrowed(&pairs[count].f1, v);
            count++;
        }
    }
    va_end(ap);
    probe_string_t n;
    borrowed(&n, name);
    probe_list_tuple2_string_string_t labels = {pairs, count};
    vigil_probe_host_metric(&n, value, &labels);
}

void vigil_degraded(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *reason = vformat(fmt, ap);
    va_end(ap);
    probe_string_t s;
    borrowed(&s, reason);
    vigil_probe_host_degraded(&s);
    free(reason);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

/* wasi:http error codes in the same words the Rust SDK uses. */
static char *describe(const wasi_http_types_error_code_t *code, const char *host_port) {
    switch (code->tag) {
    case WASI_HTTP_TYPES_ERROR_CODE_DNS_TIMEOUT: return vigil_errorf("DNS lookup timed out");
    case WASI_HTTP_TYPES_ERROR_CODE_DNS_ERROR: return vigil_errorf("DNS lookup failed");
    case WASI_HTTP_TYPES_ERROR_CODE_DESTINATION_NOT_FOUND: return vigil_errorf("host not found");
    case WASI_HTTP_TYPES_ERROR_CODE_DESTINATION_UNAVAILABLE:
        return vigil_errorf("destination unavailable");
    case WASI_HTTP_TYPES_ERROR_CODE_DESTINATION_IP_PROHIBITED:
        return vigil_errorf("destination IP address is prohibited");
    case WASI_HTTP_TYPES_ERROR_CODE_DESTINATION_IP_UNROUTABLE:
        return vigil_errorf("destination IP address is unroutable");
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_REFUSED: return vigil_errorf("connection refused");
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_TERMINATED:
        return vigil_errorf("connection closed by the server");
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_TIMEOUT: return vigil_errorf("timed out connecting");
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_READ_TIMEOUT:
        return vigil_errorf("timed out waiting for the server to answer");
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_WRITE_TIMEOUT:
        return vigil_errorf("timed out sending the request");
    case WASI_HTTP_TYPES_ERROR_CODE_TLS_PROTOCOL_ERROR: return vigil_errorf("TLS handshake failed");
    case WASI_HTTP_TYPES_ERROR_CODE_TLS_CERTIFICATE_ERROR:
        return vigil_errorf("TLS certificate rejected");
    case WASI_HTTP_TYPES_ERROR_CODE_TLS_ALERT_RECEIVED:
        return vigil_errorf("TLS alert from the server");
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_DENIED:
        return vigil_errorf(
            "request denied by vigil's sandbox (is %s in the probe's `allow` list?)", host_port);
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_URI_INVALID:
        return vigil_errorf("invalid request URL");
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_INCOMPLETE:
        return vigil_errorf("the server closed the connection before the response was complete");
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_BODY_SIZE:
        return vigil_errorf("response body over the size limit");
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_TIMEOUT:
        return vigil_errorf("timed out waiting for the response");
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_PROTOCOL_ERROR:
        return vigil_errorf("HTTP protocol error (the server's answer was not valid HTTP/1.1)");
    case WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR:
        if (code->val.internal_error.is_some && code->val.internal_error.val.len > 0)
            return vigil_errorf("HTTP error: %.*s", (int)code->val.internal_error.val.len,
                                (const char *)code->val.internal_error.val.ptr);
        return vigil_errorf("internal HTTP error in the host");
    default: return vigil_errorf("HTTP error (wasi:http error-code %d)", code->tag);
    }
}

/* The parts of an http(s) URL that wasi:http wants. All malloc'd. */
typedef struct {
    bool https;
    char *authority;
    char *path;      /* path and query, "/" at least */
    char *host_port; /* authority with the default port made explicit */
} parsed_url;

static void url_free(parsed_url *u) {
    free(u->authority);
    free(u->path);
    free(u->host_port);
}

static char *parse_url(const char *url, parsed_url *out) {
    memset(out, 0, sizeof *out);
    const char *rest;
    if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        out->https = true;
        rest = url + 8;
    } else {
        return vigil_errorf("invalid URL `%s`: it must start with http:// or https://", url);
    }
    size_t alen = strcspn(rest, "/?#");
    if (alen == 0) return vigil_errorf("invalid URL `%s`: no host", url);
    out->authority = strndup(rest, alen);
    const char *path = rest + alen;
    size_t plen = strcspn(path, "#");
    if (plen == 0) {
        out->path = strdup("/");
    } else if (path[0] == '?') {
        out->path = vigil_errorf("/%.*s", (int)plen, path);
    } else {
        out->path = strndup(path, plen);
    }
    /* A port is present when a ':' follows the host (after the ']' of an IPv6 literal). */
    const char *bracket = strrchr(out->authority, ']');
    const char *colon = strrchr(bracket ? bracket : out->authority, ':');
    out->host_port = colon ? strdup(out->authority)
                           : vigil_errorf("%s:%s", out->authority, out->https ? "443" : "80");
    return NULL;
}

void vigil_response_free(vigil_response *resp) {
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

/* Read the whole body stream into resp. NULL on success. */
static char *read_body(wasi_io_streams_own_input_stream_t stream, vigil_response *resp) {
    size_t cap = 4096;
    resp->body = malloc(cap);
    if (!resp->body) abort();
    resp->body_len = 0;
    wasi_io_streams_borrow_input_stream_t b = wasi_io_streams_borrow_input_stream(stream);
    for (;;) {
        probe_list_u8_t chunk;
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_input_stream_blocking_read(b, 64 * 1024, &chunk, &err)) {
            if (err.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED) break;
            probe_string_t debug;
            wasi_io_error_method_error_to_debug_string(
                wasi_io_error_borrow_error(err.val.last_operation_failed), &debug);
            char *text = take_string(&debug);
            wasi_io_error_error_drop_own(err.val.last_operation_failed);
            char *msg = vigil_errorf("reading the body failed: %s", text);
            free(text);
            vigil_response_free(resp);
            return msg;
        }
        if (resp->body_len + chunk.len + 1 > cap) {
            while (resp->body_len + chunk.len + 1 > cap) cap *= 2;
            resp->body = realloc(resp->body, cap);
            if (!resp->body) abort();
        }
        if (chunk.len) memcpy(resp->body + resp->body_len, chunk.ptr, chunk.len);
        resp->body_len += chunk.len;
        probe_list_u8_free(&chunk);
    }
    resp->body[resp->body_len] = '\0';
    return NULL;
}

static char *get(const parsed_url *u, vigil_response *resp) {
    wasi_http_types_own_outgoing_request_t req =
        wasi_http_types_constructor_outgoing_request(wasi_http_types_constructor_fields());
    wasi_http_types_borrow_outgoing_request_t r = wasi_http_types_borrow_outgoing_request(req);
    wasi_http_types_method_t method = {.tag = WASI_HTTP_TYPES_METHOD_GET};
    wasi_http_types_scheme_t scheme = {
        .tag = u->https ? WASI_HTTP_TYPES_SCHEME_HTTPS : WASI_HTTP_TYPES_SCHEME_HTTP};
    probe_string_t authority, path;
    borrowed(&authority, u->authority);
    borrowed(&path, u->path);
    if (!wasi_http_types_method_outgoing_request_set_method(r, &method) ||
        !wasi_http_types_method_outgoing_request_set_scheme(r, &scheme) ||
        !wasi_http_types_method_outgoing_request_set_authority(r, &authority) ||
        !wasi_http_types_method_outgoing_request_set_path_with_query(r, &path)) {
        wasi_http_types_outgoing_request_drop_own(req);
        return vigil_errorf("invalid request URL");
    }

    wasi_clocks_monotonic_clock_instant_t start = wasi_clocks_monotonic_clock_now();
    wasi_http_outgoing_handler_own_future_incoming_response_t future;
    wasi_http_outgoing_handler_error_code_t code;
    /* `handle` takes the request, whatever it returns. */
    if (!wasi_http_outgoing_handler_handle(req, NULL, &future, &code)) {
        char *msg = describe(&code, u->host_port);
        wasi_http_outgoing_handler_error_code_free(&code);
        return msg;
    }
    wasi_http_types_borrow_future_incoming_response_t f =
        wasi_http_types_borrow_future_incoming_response(future);
    wasi_http_types_own_pollable_t ready = wasi_http_types_method_future_incoming_response_subscribe(f);
    wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
    wasi_io_poll_pollable_drop_own(ready);

    wasi_http_types_result_result_own_incoming_response_error_code_void_t got;
    bool some = wasi_http_types_method_future_incoming_response_get(f, &got);
    wasi_http_types_future_incoming_response_drop_own(future);
    if (!some || got.is_err) return vigil_errorf("no response (the host lost it)");
    if (got.val.ok.is_err) {
        char *msg = describe(&got.val.ok.val.err, u->host_port);
        wasi_http_types_error_code_free(&got.val.ok.val.err);
        return msg;
    }
    wasi_http_types_own_incoming_response_t response = got.val.ok.val.ok;
    wasi_http_types_borrow_incoming_response_t rb = wasi_http_types_borrow_incoming_response(response);
    resp->status = wasi_http_types_method_incoming_response_status(rb);

    wasi_http_types_own_incoming_body_t body;
    if (!wasi_http_types_method_incoming_response_consume(rb, &body)) {
        wasi_http_types_incoming_response_drop_own(response);
        return vigil_errorf("the response body was already taken");
    }
    wasi_http_types_own_input_stream_t stream;
    char *msg = NULL;
    if (wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &stream)) {
        msg = read_body(stream, resp);
        wasi_io_streams_input_stream_drop_own(stream);
    } else {
        msg = vigil_errorf("the response body stream was already taken");
    }
    wasi_http_types_future_trailers_drop_own(wasi_http_types_static_incoming_body_finish(body));
    wasi_http_types_incoming_response_drop_own(response);
    resp->elapsed_ms = (double)(wasi_clocks_monotonic_clock_now() - start) / 1e6;
    return msg;
}

char *vigil_http_get(const char *url, vigil_response *resp) {
    memset(resp, 0, sizeof *resp);
    parsed_url u;
    char *msg = parse_url(url, &u);
    if (!msg) msg = get(&u, resp);
    url_free(&u);
    if (!msg) return NULL;
    /* Say which request failed, as the Rust SDK does: "GET <url>: <why>". */
    char *full = vigil_errorf("GET %s: %s", url, msg);
    free(msg);
    return full;
}
