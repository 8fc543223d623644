/* abi_where.c: a test app in C that reports what the context-dependent
 * helpers answer in the callbacks abi_misuse.c does not reach: timer,
 * close and fini (the table "What each helper gives where" in
 * docs/app-abi.md).
 *
 * Once two clients are open, the timer sends both "T" and its report; the
 * close callback sends the remaining clients "C" and its report. A report
 * is eight signed bytes: the tag, whether
 * there is a client id, the endpoint id, rs_get_client_addr's status,
 * rs_get_read_data_kind, the statuses of rs_to_cur and
 * rs_to_every_except_cur (each after a write of "junk", which a refused
 * send must drop), and rs_close_client's for a client of a worker that
 * does not exist. fini logs "fini" with the statuses of rs_to_every and
 * rs_close_client, whether there is a client id, the endpoint id, and
 * whether the app data is still there.
 */
#include <ringsocket_app.h>
typedef struct { int opened; int timer_done; } where_data;
/* Writes what the context-dependent helpers say here, as 8 bytes. */
static void where_report(rs_t *rs, uint8_t tag)
{
    rs_peer_addr addr;
    int32_t st[8];
    st[0] = tag;
    st[1] = rs_get_client_id(rs) != 0;
    st[2] = rs_get_endpoint_id(rs);
    st[3] = rs_get_client_addr(rs, &addr);
    st[4] = rs_get_read_data_kind(rs);
    rs_w_str(rs, "junk");
    st[5] = rs_to_cur(rs, RS_DATA_BIN);
    rs_w_str(rs, "junk");
    st[6] = rs_to_every_except_cur(rs, RS_DATA_BIN);
    /* Worker 1023 does not exist: the id reaches nobody. */
    st[7] = rs_close_client(rs, (UINT64_C(1023) << 54) | 1, 4000);
    for (int i = 0; i < 8; i++) {
        rs_w_int8(rs, (int8_t)st[i]);
    }
}
static int32_t where_open(rs_t *rs)
{
    ((where_data *)rs_get_app_data(rs))->opened++;
    return 0;
}
static int32_t where_close(rs_t *rs)
{
    where_report(rs, 'C');
    return rs_to_every(rs, RS_DATA_BIN) == RS_SEND_OK ? 0 : -1;
}
static int32_t where_timer(rs_t *rs)
{
    where_data *data = rs_get_app_data(rs);
    if (data->opened < 2 || data->timer_done) {
        return 5000;
    }
    data->timer_done = 1;
    where_report(rs, 'T');
    return rs_to_every(rs, RS_DATA_BIN) == RS_SEND_OK ? 5000 : -1;
}
static void where_fini(rs_t *rs)
{
    rs_w_str(rs, "junk");
    int32_t s = rs_to_every(rs, RS_DATA_BIN);
    int32_t c = rs_close_client(rs, 1, 4000);
    rs_log(rs, RS_LOG_ERROR, "fini %d %d %d %d %d", (int)s, (int)c,
           rs_get_client_id(rs) != 0, (int)rs_get_endpoint_id(rs),
           rs_get_app_data(rs) != NULL);
}
static int32_t where_read(rs_t *rs, const uint8_t *payload, size_t len)
{
    (void)rs; (void)payload; (void)len;
    return 0;
}
static const rs_read_case where_cases[] = {
    { .data_kind = RS_DATA_ANY, .read = where_read },
};
static const rs_app_descriptor where_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .open = where_open, .close = where_close, .timer = where_timer, .fini = where_fini,
    .read_mode = RS_READ_ANY,
    .timer_mode = RS_TIMER_WAKE,
    .timer_interval_us = 5000,
    .app_data_size = sizeof(where_data),
    .app_data_align = _Alignof(where_data),
    .cases = where_cases,
    .case_count = 1,
};
const rs_app_descriptor *ringsocket_app_v1(void) { return &where_descriptor; }
