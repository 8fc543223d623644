/* silly_calc.c: the seed's example app in C, answering exactly as the Rust
 * silly_calc example does (a test checks that they agree).
 *
 * A binary message holds an int32_t and 1 to 10 uint16_t, all in network
 * byte order; the server checks those sizes before calling silly_calc. The
 * app sends their sum as an int64_t in network byte order to every other
 * client (binary) and replies "笑笑?" to the sender (text).
 *
 * Build (from the repository's root):
 *   cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -I crates/rs-app/include \
 *       -o libsilly_calc_c.so crates/rs-examples/c/silly_calc.c
 */
#include <ringsocket_app.h>

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int32_t silly_calc(rs_t *rs, const uint8_t *payload, size_t len)
{
    /* The seed's RS_NTOH(int32_t), then RS_NTOH(uint16_t, 1, 10). */
    int64_t sum = (int32_t)be32(payload);
    for (size_t at = 4; at < len; at += 2) {
        sum += be16(payload + at);
    }
    rs_w_int64_hton(rs, sum);
    int32_t sent = rs_to_every_except_cur(rs, RS_DATA_BIN);
    if (sent == RS_SEND_OK) {
        rs_w_str(rs, "笑笑");
        rs_w_uint8(rs, '?'); /* just to show that writes can be chained */
        sent = rs_to_cur(rs, RS_DATA_UTF8);
    }
    /* A server that is shutting down is no failure of the app's. */
    return sent == RS_SEND_OK || sent == RS_SEND_SHUTTING_DOWN ? 0 : -1;
}

static const rs_arg_spec silly_calc_args[] = {
    { .kind = RS_ARG_NTOH, .shape = RS_SHAPE_SCALAR, .elem_size = 4, .min = 1, .max = 1 },
    { .kind = RS_ARG_NTOH, .shape = RS_SHAPE_RANGE, .elem_size = 2, .min = 1, .max = 10 },
};

static const rs_read_case silly_calc_cases[] = {
    { .data_kind = RS_DATA_BIN, .read = silly_calc, .args = silly_calc_args, .arg_count = 2 },
};

static const rs_app_descriptor silly_calc_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .read_mode = RS_READ_BIN,
    .timer_mode = RS_TIMER_NONE,
    .app_data_align = 1,
    .cases = silly_calc_cases,
    .case_count = 1,
};

const rs_app_descriptor *ringsocket_app_v1(void)
{
    return &silly_calc_descriptor;
}
