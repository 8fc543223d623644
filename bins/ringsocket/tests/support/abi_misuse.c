/* abi_misuse.c: a test app in C that calls the host functions wrongly, as
 * only a C app can (the Rust SDK makes these calls impossible to write),
 * and reports the statuses it got.
 *
 * A client is welcomed with what the open callback can learn of it. Each
 * message is answered with one binary message: the statuses of the refused
 * calls in init, then those of the refused calls in read, one byte each,
 * then 1 for each of rs_get_subprotocol, rs_get_query and rs_get_header
 * saying none outside open, then the statuses of the calls given a length
 * of -1. Every refused send is preceded by a write of "junk": the answer
 * holds nothing else only if each refusal emptied the write buffer.
 */
#include <ringsocket_app.h>

/* What init got, kept for the reads. */
typedef struct {
    int32_t init_send;
    int32_t init_close;
} misuse_data;

static int32_t misuse_init(rs_t *rs)
{
    misuse_data *data = rs_get_app_data(rs);
    rs_w_str(rs, "junk");
    data->init_send = rs_to_every(rs, RS_DATA_BIN);
    data->init_close = rs_close_client(rs, 1, 4000);
    return 0;
}

/* Writes " <detail>", or " -" for none. */
static void write_detail(rs_t *rs, const uint8_t *detail, size_t len)
{
    rs_w_str(rs, " ");
    if (detail != NULL) {
        rs_w_p(rs, detail, len);
    } else {
        rs_w_str(rs, "-");
    }
}

/* Welcomes each client with the subprotocol the handshake chose, the
 * URL's query, its Cookie header ("-" for none), its endpoint id, and its
 * address's IP version and port: "open <subprotocol> <query> <cookie>
 * <endpoint> <version> <port>". */
static int32_t misuse_open(rs_t *rs)
{
    size_t len;
    rs_w_str(rs, "open");
    /* A NULL len is allowed: the name alone, the same pointer. */
    const uint8_t *subprotocol = rs_get_subprotocol(rs, &len);
    if (rs_get_subprotocol(rs, NULL) != subprotocol) {
        return -1;
    }
    write_detail(rs, subprotocol, len);
    const uint8_t *query = rs_get_query(rs, &len);
    write_detail(rs, query, len);
    /* Any case; a NULL len is allowed here too. A NULL name or one that
     * is not UTF-8 names no header. */
    const uint8_t *cookie = rs_get_header(rs, "COOKIE", &len);
    size_t none_len = 99;
    size_t null_len = 99;
    if (rs_get_header(rs, "cookie", NULL) != cookie
        || rs->api->header(rs, NULL, 6, &none_len) != NULL || none_len != 0
        || rs_get_header(rs, NULL, &null_len) != NULL || null_len != 0
        || rs_get_header(rs, "Cookie\xff", NULL) != NULL) {
        return -1;
    }
    /* A NULL string writes nothing (the header's helper does not read it). */
    rs_w_str(rs, NULL);
    write_detail(rs, cookie, len);
    rs_peer_addr addr;
    if (rs_get_client_addr(rs, &addr) != 0) {
        return -1;
    }
    char rest[64];
    snprintf(rest, sizeof rest, " %d %u %u", (int)rs_get_endpoint_id(rs),
             (unsigned)addr.version, (unsigned)addr.port);
    rs_w_str(rs, rest);
    return rs_to_cur(rs, RS_DATA_UTF8) == RS_SEND_OK ? 0 : -1;
}

static int32_t misuse_read(rs_t *rs, const uint8_t *payload, size_t len)
{
    (void)len;
    const misuse_data *data = rs_get_app_data(rs);
    const uint64_t two_ids[2] = { rs_get_client_id(rs), rs_get_client_id(rs) };
    int32_t got[13];
    got[0] = data->init_send;
    got[1] = data->init_close;
    rs_w_str(rs, "junk");
    got[2] = rs->api->send(rs, RS_DATA_BIN, 99, NULL, 0); /* no such target */
    rs_w_str(rs, "junk");
    got[3] = rs_to_cur(rs, RS_DATA_ANY); /* a case kind, not a message kind */
    rs_w_str(rs, "junk");
    got[4] = rs->api->send(rs, RS_DATA_BIN, RS_TARGET_SINGLE, two_ids, 2);
    got[5] = rs_close_client(rs, rs_get_client_id(rs), 3999); /* not 4000-4899 */
    rs_w_uint8(rs, 0xff); /* not UTF-8 */
    got[6] = rs_to_cur(rs, RS_DATA_UTF8);
    /* Lengths of -1 (a failed read() kept in a size_t): a write that
     * could never be sent makes the send refuse the whole buffer, a count
     * is refused, a log line dropped (and logged as dropped). */
    rs_w_p(rs, payload, (size_t)-1);
    rs_w_str(rs, "junk");
    got[11] = rs_to_cur(rs, RS_DATA_BIN);
    rs_w_str(rs, "junk");
    got[12] = rs_to_multi(rs, RS_DATA_BIN, two_ids, (size_t)-1);
    rs->api->log(rs, RS_LOG_WARNING, payload, (size_t)-1);
    /* Refused before the ids are used: the last, so that nothing after it
     * could empty the buffer in its place. */
    rs_w_str(rs, "junk");
    got[7] = rs_to_single(rs, RS_DATA_BIN, 0); /* no client has id 0 */
    /* Outside open: none, whatever the handshake chose. */
    size_t detail_len = 99;
    got[8] = rs_get_subprotocol(rs, &detail_len) == NULL && detail_len == 0;
    detail_len = 99;
    got[9] = rs_get_query(rs, &detail_len) == NULL && detail_len == 0
             && rs_get_query(rs, NULL) == NULL; /* a NULL len is allowed */
    detail_len = 99;
    got[10] = rs_get_header(rs, "Cookie", &detail_len) == NULL && detail_len == 0;
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++) {
        rs_w_uint8(rs, (uint8_t)got[i]);
    }
    return rs_to_cur(rs, RS_DATA_BIN) == RS_SEND_OK ? 0 : -1;
}

static const rs_arg_spec misuse_args[] = {
    { .kind = RS_ARG_NET, .shape = RS_SHAPE_RANGE, .elem_size = 1, .min = 0, .max = 1000 },
};

static const rs_read_case misuse_cases[] = {
    { .data_kind = RS_DATA_ANY, .read = misuse_read, .args = misuse_args, .arg_count = 1 },
};

static const rs_app_descriptor misuse_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .init = misuse_init,
    .open = misuse_open,
    .read_mode = RS_READ_ANY,
    .timer_mode = RS_TIMER_NONE,
    .app_data_size = sizeof(misuse_data),
    .app_data_align = _Alignof(misuse_data),
    .cases = misuse_cases,
    .case_count = 1,
};

const rs_app_descriptor *ringsocket_app_v1(void)
{
    return &misuse_descriptor;
}
