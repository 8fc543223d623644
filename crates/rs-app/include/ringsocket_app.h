/* ringsocket_app.h: the RingSocket app ABI, version 1, for apps written in C.
 *
 * The definitions mirror crates/rs-app/src/abi.rs; docs/app-abi.md explains
 * every structure, constant and host function. The test
 * crates/rs-app/tests/c_header.rs compiles this header against the Rust
 * definitions: every struct's size, alignment and field offsets, and every
 * constant. (It cannot see a field's signedness or a function pointer's
 * parameters: keep those in step by hand.)
 *
 * After the ABI come the seed's helpers (rs_w_*, rs_to_*, rs_get_*, rs_log)
 * as static inline functions over the host function table, so that an app
 * ported from the C original keeps most of its calls. Unlike the seed's,
 * the rs_to_* helpers return a status (RS_SEND_OK or an RS_SEND_* error)
 * instead of treating a misuse as fatal, and rs_log takes an RS_LOG_*
 * level, not a syslog one (see "Differences from the seed's C API" in
 * docs/app-abi.md). rs_close_client, rs_get_subprotocol, rs_get_query and
 * rs_get_header are this project's additions.
 *
 * An app includes this header, defines a static const rs_app_descriptor and
 * exports ringsocket_app_v1 returning it; crates/rs-examples/c/ holds two
 * complete apps. Build one with:
 *
 *     cc -std=c11 -O2 -shared -fPIC -I crates/rs-app/include -o libapp.so app.c
 *
 * Target: x86-64 Linux (LP64, little-endian).
 */
#ifndef RINGSOCKET_APP_H
#define RINGSOCKET_APP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Constants ---------------------------------------------------------- */

#define RS_ABI_VERSION 1u

/* Message kinds: rs_read_case.data_kind (all three), send (BIN, UTF8). The
   seed's enum name, so that `enum rs_data_kind kind = RS_BIN;` compiles;
   fields and arguments are uint8_t, which every value fits. */
enum rs_data_kind {
    RS_DATA_BIN = 1,
    RS_DATA_UTF8 = 2,
    RS_DATA_ANY = 3,
    /* The seed's names for the two message kinds. */
    RS_BIN = RS_DATA_BIN,
    RS_UTF8 = RS_DATA_UTF8
};

enum {
    /* rs_app_descriptor.read_mode */
    RS_READ_BIN = 1,
    RS_READ_UTF8 = 2,
    RS_READ_ANY = 3,
    RS_READ_SWITCH = 4,
    /* rs_app_descriptor.timer_mode */
    RS_TIMER_NONE = 0,
    RS_TIMER_SLEEP = 1,
    RS_TIMER_WAKE = 2,
    /* rs_arg_spec.kind */
    RS_ARG_NET = 1,
    RS_ARG_NTOH = 2,
    RS_ARG_STR = 3,
    /* rs_arg_spec.shape */
    RS_SHAPE_SCALAR = 1,
    RS_SHAPE_ARRAY = 2,
    RS_SHAPE_RANGE = 3,
    /* send targets */
    RS_TARGET_SINGLE = 1,
    RS_TARGET_MULTI = 2,
    RS_TARGET_CUR = 3,
    RS_TARGET_EVERY = 4,
    RS_TARGET_EVERY_EXCEPT_SINGLE = 5,
    RS_TARGET_EVERY_EXCEPT_MULTI = 6,
    RS_TARGET_EVERY_EXCEPT_CUR = 7,
    /* send and close_client statuses */
    RS_SEND_OK = 0,
    RS_SEND_NO_CURRENT_CLIENT = 1,
    RS_SEND_INVALID_UTF8 = 2,
    RS_SEND_TOO_LARGE = 3,
    RS_SEND_INVALID_ARGUMENT = 4,
    RS_SEND_NOT_AVAILABLE = 5,
    RS_SEND_SHUTTING_DOWN = 6,
    /* log levels */
    RS_LOG_ERROR = 0,
    RS_LOG_WARNING = 1,
    RS_LOG_NOTICE = 2,
    RS_LOG_INFO = 3,
    RS_LOG_DEBUG = 4,
    /* Close codes the server sends when a payload does not fit the app. */
    RS_CLOSE_WRONG_SIZE = 4900,
    RS_CLOSE_WRONG_DATA_KIND = 4901,
    RS_CLOSE_UNKNOWN_CASE = 4902,
    /* The close codes an app may use. */
    RS_CLOSE_APP_MIN = 4000,
    RS_CLOSE_APP_MAX = 4899,
    /* The most arguments a read case may declare. */
    RS_MAX_ARGS = 15
};

/* The status the Rust SDK returns when a callback panicked. */
#define RS_STATUS_PANICKED INT32_MIN

/* ---- Structures --------------------------------------------------------- */

typedef struct rs_host_api rs_host_api;

/* What every callback receives. */
typedef struct rs_ctx {
    const rs_host_api *api;
    void *host; /* the server's state: opaque */
} rs_ctx;

/* The seed's name for the context. */
typedef rs_ctx rs_t;

typedef int32_t (*rs_callback)(rs_ctx *ctx);
typedef int32_t (*rs_read_callback)(rs_ctx *ctx, const uint8_t *payload, size_t len);
typedef void (*rs_fini_callback)(rs_ctx *ctx);

typedef struct rs_arg_spec {
    uint8_t kind;      /* RS_ARG_* */
    uint8_t shape;     /* RS_SHAPE_*; RS_SHAPE_RANGE for the last argument only */
    uint8_t elem_size; /* 1, 2, 4 or 8 (1 for strings) */
    uint8_t reserved;  /* 0 */
    uint32_t min;      /* elements: 1 for a scalar, the count of an array,
                          the minimum of a range */
    uint32_t max;      /* equal to min except for a range */
} rs_arg_spec;

typedef struct rs_read_case {
    uint8_t value;       /* in RS_READ_SWITCH mode, the first payload byte */
    uint8_t data_kind;   /* RS_DATA_* */
    uint8_t reserved[6]; /* 0 */
    rs_read_callback read;
    const rs_arg_spec *args;
    size_t arg_count;
} rs_read_case;

typedef struct rs_app_descriptor {
    uint32_t abi_version;     /* RS_ABI_VERSION */
    uint32_t descriptor_size; /* sizeof(rs_app_descriptor) */
    rs_callback init, open, close, timer; /* each may be NULL */
    rs_fini_callback fini;                /* may be NULL */
    uint8_t read_mode;   /* RS_READ_* */
    uint8_t timer_mode;  /* RS_TIMER_* */
    uint8_t reserved[6]; /* 0 */
    uint64_t timer_interval_us; /* > 0 when timer_mode is not RS_TIMER_NONE */
    size_t app_data_size;
    size_t app_data_align; /* a power of two, at most 4096 */
    const rs_read_case *cases;
    size_t case_count; /* 1, or 1 to 255 in RS_READ_SWITCH mode */
} rs_app_descriptor;

typedef struct rs_peer_addr {
    uint8_t ip[16];  /* 4 bytes used for IPv4, 16 for IPv6 */
    uint16_t port;   /* host byte order */
    uint8_t version; /* 4 or 6 */
    uint8_t reserved;
} rs_peer_addr;

typedef struct rs_app_conf {
    const uint8_t *name; /* the app's name: UTF-8, not NUL-terminated */
    size_t name_len;
    uint32_t worker_c;
    uint64_t max_ws_msg_size;
    uint64_t wbuf_size;
    uint64_t fd_alloc_c;
    uint32_t shutdown_wait_ws; /* seconds */
} rs_app_conf;

struct rs_host_api {
    uint32_t abi_version;
    uint32_t size;
    void (*write)(rs_ctx *ctx, const uint8_t *bytes, size_t len);
    int32_t (*send)(rs_ctx *ctx, uint8_t data_kind, uint8_t target,
                    const uint64_t *ids, size_t count);
    int32_t (*close_client)(rs_ctx *ctx, uint64_t client_id, uint16_t code);
    uint64_t (*client_id)(rs_ctx *ctx);
    int32_t (*endpoint_id)(rs_ctx *ctx);
    int32_t (*client_addr)(rs_ctx *ctx, rs_peer_addr *addr);
    int32_t (*read_data_kind)(rs_ctx *ctx);
    const rs_app_conf *(*conf)(rs_ctx *ctx);
    void *(*app_data)(rs_ctx *ctx);
    void (*log)(rs_ctx *ctx, uint8_t level, const uint8_t *message, size_t len);
    const uint8_t *(*subprotocol)(rs_ctx *ctx, size_t *len);
    const uint8_t *(*query)(rs_ctx *ctx, size_t *len);
    const uint8_t *(*header)(rs_ctx *ctx, const uint8_t *name, size_t name_len, size_t *len);
};

/* Layout checks: a compiler that lays these out otherwise cannot build an
 * app for this ABI. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define RS_STATIC_ASSERT(condition, message) static_assert(condition, message)
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RS_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#else
/* C99 and C++98: an array type of negative size when the check fails. */
#define RS_STATIC_ASSERT_NAME_(line) rs_static_assert_##line
#define RS_STATIC_ASSERT_LINE_(line) RS_STATIC_ASSERT_NAME_(line)
#define RS_STATIC_ASSERT(condition, message) \
    typedef char RS_STATIC_ASSERT_LINE_(__LINE__)[(condition) ? 1 : -1]
#endif
RS_STATIC_ASSERT(sizeof(rs_app_descriptor) == 96, "rs_app_descriptor layout");
RS_STATIC_ASSERT(sizeof(rs_read_case) == 32, "rs_read_case layout");
RS_STATIC_ASSERT(sizeof(rs_arg_spec) == 12, "rs_arg_spec layout");
RS_STATIC_ASSERT(sizeof(rs_ctx) == 16, "rs_ctx layout");
RS_STATIC_ASSERT(sizeof(rs_host_api) == 112, "rs_host_api layout");
RS_STATIC_ASSERT(sizeof(rs_peer_addr) == 20, "rs_peer_addr layout");
RS_STATIC_ASSERT(sizeof(rs_app_conf) == 56, "rs_app_conf layout");
#undef RS_STATIC_ASSERT

/* The entry symbol: every app defines it, returning its descriptor.
 * Exported even when the app is built with -fvisibility=hidden (the
 * definition takes this declaration's visibility). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
const rs_app_descriptor *ringsocket_app_v1(void);

/* ---- The seed's helpers ------------------------------------------------- */

/* Writers: append to the write buffer, sent by the next rs_to_* call. */

static inline void rs_w_p(rs_t *rs, const void *src, size_t size)
{
    rs->api->write(rs, (const uint8_t *)src, size);
}

/* str must be NUL-terminated; use rs_w_p otherwise. NULL writes nothing
 * (as rs_w_p does): a bug in one app must not take the server down. */
static inline void rs_w_str(rs_t *rs, const char *str)
{
    rs_w_p(rs, str, str != NULL ? strlen(str) : 0);
}

/* Host byte order. */
static inline void rs_w_uint8(rs_t *rs, uint8_t v) { rs_w_p(rs, &v, 1); }
static inline void rs_w_uint16(rs_t *rs, uint16_t v) { rs_w_p(rs, &v, 2); }
static inline void rs_w_uint32(rs_t *rs, uint32_t v) { rs_w_p(rs, &v, 4); }
static inline void rs_w_uint64(rs_t *rs, uint64_t v) { rs_w_p(rs, &v, 8); }
static inline void rs_w_int8(rs_t *rs, int8_t v) { rs_w_p(rs, &v, 1); }
static inline void rs_w_int16(rs_t *rs, int16_t v) { rs_w_p(rs, &v, 2); }
static inline void rs_w_int32(rs_t *rs, int32_t v) { rs_w_p(rs, &v, 4); }
static inline void rs_w_int64(rs_t *rs, int64_t v) { rs_w_p(rs, &v, 8); }

/* Network byte order (big-endian). */
static inline void rs_w_be_(rs_t *rs, uint64_t v, size_t size)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < size; i++) {
        bytes[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
    }
    rs_w_p(rs, bytes, size);
}
static inline void rs_w_uint16_hton(rs_t *rs, uint16_t v) { rs_w_be_(rs, v, 2); }
static inline void rs_w_uint32_hton(rs_t *rs, uint32_t v) { rs_w_be_(rs, v, 4); }
static inline void rs_w_uint64_hton(rs_t *rs, uint64_t v) { rs_w_be_(rs, v, 8); }
static inline void rs_w_int16_hton(rs_t *rs, int16_t v) { rs_w_be_(rs, (uint16_t)v, 2); }
static inline void rs_w_int32_hton(rs_t *rs, int32_t v) { rs_w_be_(rs, (uint32_t)v, 4); }
static inline void rs_w_int64_hton(rs_t *rs, int64_t v) { rs_w_be_(rs, (uint64_t)v, 8); }

/* Senders: send the write buffer as one message of `kind` (RS_DATA_BIN or
 * RS_DATA_UTF8) and empty it, whatever the outcome. Each returns RS_SEND_OK
 * or an RS_SEND_* error. */

static inline int32_t rs_to_single(rs_t *rs, uint8_t kind, uint64_t client_id)
{
    return rs->api->send(rs, kind, RS_TARGET_SINGLE, &client_id, 1);
}
static inline int32_t rs_to_multi(rs_t *rs, uint8_t kind, const uint64_t *ids, size_t count)
{
    return rs->api->send(rs, kind, RS_TARGET_MULTI, ids, count);
}
static inline int32_t rs_to_cur(rs_t *rs, uint8_t kind)
{
    return rs->api->send(rs, kind, RS_TARGET_CUR, NULL, 0);
}
static inline int32_t rs_to_every(rs_t *rs, uint8_t kind)
{
    return rs->api->send(rs, kind, RS_TARGET_EVERY, NULL, 0);
}
static inline int32_t rs_to_every_except_single(rs_t *rs, uint8_t kind, uint64_t client_id)
{
    return rs->api->send(rs, kind, RS_TARGET_EVERY_EXCEPT_SINGLE, &client_id, 1);
}
static inline int32_t rs_to_every_except_multi(rs_t *rs, uint8_t kind, const uint64_t *ids,
                                               size_t count)
{
    return rs->api->send(rs, kind, RS_TARGET_EVERY_EXCEPT_MULTI, ids, count);
}
static inline int32_t rs_to_every_except_cur(rs_t *rs, uint8_t kind)
{
    return rs->api->send(rs, kind, RS_TARGET_EVERY_EXCEPT_CUR, NULL, 0);
}

/* Closes a client with a close frame carrying `code` (4000-4899). */
static inline int32_t rs_close_client(rs_t *rs, uint64_t client_id, uint16_t code)
{
    return rs->api->close_client(rs, client_id, code);
}

/* Getters. */

static inline uint64_t rs_get_client_id(rs_t *rs) { return rs->api->client_id(rs); }
static inline int32_t rs_get_endpoint_id(rs_t *rs) { return rs->api->endpoint_id(rs); }
static inline int32_t rs_get_read_data_kind(rs_t *rs) { return rs->api->read_data_kind(rs); }
static inline const rs_app_conf *rs_get_conf(rs_t *rs) { return rs->api->conf(rs); }
static inline void *rs_get_app_data(rs_t *rs) { return rs->api->app_data(rs); }
static inline int32_t rs_get_client_addr(rs_t *rs, rs_peer_addr *addr)
{
    return rs->api->client_addr(rs, addr);
}

/* In an open callback, the subprotocol the handshake chose (not
 * NUL-terminated; its length in *len unless len is NULL), or NULL (*len 0)
 * when it chose none and outside open callbacks. This project's addition. */
static inline const uint8_t *rs_get_subprotocol(rs_t *rs, size_t *len)
{
    /* A server older than this function has a shorter table. */
    if (rs->api->size < offsetof(rs_host_api, subprotocol) + sizeof rs->api->subprotocol) {
        if (len != NULL) {
            *len = 0;
        }
        return NULL;
    }
    return rs->api->subprotocol(rs, len);
}

/* In an open callback, the query of the URL the client connected to (what
 * follows '?', as sent: UTF-8, usually percent-encoded, not
 * NUL-terminated; its length in *len unless len is NULL), or NULL (*len 0)
 * when it had none or an empty one, and outside open callbacks. This
 * project's addition. */
static inline const uint8_t *rs_get_query(rs_t *rs, size_t *len)
{
    /* A server older than this function has a shorter table. */
    if (rs->api->size < offsetof(rs_host_api, query) + sizeof rs->api->query) {
        if (len != NULL) {
            *len = 0;
        }
        return NULL;
    }
    return rs->api->query(rs, len);
}

/* In an open callback, the value of the request header called name (a
 * NUL-terminated string, any case) if the client sent it and the endpoint
 * lists it in "app_headers": bytes as sent, without surrounding spaces,
 * several lines joined ("; " for Cookie, ", " for others), not
 * NUL-terminated, its length in *len unless len is NULL. NULL (*len 0)
 * otherwise and outside open callbacks; a header sent empty is not NULL.
 * This project's addition. */
static inline const uint8_t *rs_get_header(rs_t *rs, const char *name, size_t *len)
{
    /* A server older than this function has a shorter table. */
    if (rs->api->size < offsetof(rs_host_api, header) + sizeof rs->api->header) {
        if (len != NULL) {
            *len = 0;
        }
        return NULL;
    }
    /* A NULL name names no header (the host returns NULL for it). */
    return rs->api->header(rs, (const uint8_t *)name, name != NULL ? strlen(name) : 0, len);
}

/* Logs a printf-style message at an RS_LOG_* level (not a syslog one),
 * prefixed with the app's name by the server. A message longer than 1023
 * bytes is cut at the last whole UTF-8 character before that; one the
 * format cannot produce is logged as the format itself. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void rs_log(rs_t *rs, uint8_t level, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    int written = vsnprintf(message, sizeof message, format, args);
    va_end(args);
    const char *text = written < 0 ? format : message;
    size_t len = written < 0 ? strlen(format) : (size_t)written;
    if (len >= sizeof message) {
        len = sizeof message - 1;
        /* Drop the last character if the cut split it: find its first
         * byte (continuation bytes are 10xxxxxx) and how long it is. */
        size_t start = len;
        while (start > 0 && ((unsigned char)text[start - 1] & 0xC0) == 0x80) {
            start--;
        }
        if (start > 0) {
            unsigned char lead = (unsigned char)text[start - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (start - 1 + need > len) {
                len = start - 1;
            }
        }
    }
    /* In parentheses: <tgmath.h> makes `log` a macro. */
    (rs->api->log)(rs, level, (const uint8_t *)text, len);
}

#ifdef __cplusplus
}
#endif

#endif /* RINGSOCKET_APP_H */
