/* echo.c: a RingSocket app in C. Sends every message back to its sender,
 * text as text and binary as binary, like the Rust echo example.
 *
 * Build (from the repository's root):
 *   cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -I crates/rs-app/include \
 *       -o libecho_c.so crates/rs-examples/c/echo.c
 */
#include <ringsocket_app.h>

static int32_t echo_read(rs_t *rs, const uint8_t *payload, size_t len)
{
    rs_w_p(rs, payload, len);
    /* RS_DATA_BIN or RS_DATA_UTF8: the kind the message came as. */
    uint8_t kind = (uint8_t)rs_get_read_data_kind(rs);
    int32_t sent = rs_to_cur(rs, kind);
    /* A server that is shutting down is no failure of the app's. */
    return sent == RS_SEND_OK || sent == RS_SEND_SHUTTING_DOWN ? 0 : -1;
}

static int32_t echo_init(rs_t *rs)
{
    rs_log(rs, RS_LOG_NOTICE, "echo (C) ready on %u worker(s)", rs_get_conf(rs)->worker_c);
    return 0;
}

/* One argument: the whole payload, 0 to UINT32_MAX bytes. With no
 * arguments at all, only empty messages would pass (4900 otherwise). */
static const rs_arg_spec echo_args[] = {
    { .kind = RS_ARG_NET, .shape = RS_SHAPE_RANGE, .elem_size = 1,
      .min = 0, .max = UINT32_MAX },
};

static const rs_read_case echo_cases[] = {
    { .data_kind = RS_DATA_ANY, .read = echo_read, .args = echo_args, .arg_count = 1 },
};

static const rs_app_descriptor echo_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .init = echo_init,
    .read_mode = RS_READ_ANY,
    .timer_mode = RS_TIMER_NONE,
    .app_data_align = 1,
    .cases = echo_cases,
    .case_count = 1,
};

const rs_app_descriptor *ringsocket_app_v1(void)
{
    return &echo_descriptor;
}
