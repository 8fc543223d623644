/* fail_accept.c: an LD_PRELOAD shim for the server's tests, making
 * accept4(2) fail on demand. The kernel returns accept's rarer errors
 * (ECONNABORTED, ENOBUFS, ...) only in conditions a test cannot set up on
 * loopback.
 *
 * RS_FAIL_ACCEPT holds comma-separated errno values: the first accept4
 * calls of the process fail with them, in order, leaving the connection
 * in the listen queue; later calls go to the real accept4. Each call is
 * reported on stderr ("fail_accept: call N done"), after it returns, so
 * that a test can wait for the server to have made it.
 *
 * RS_FAIL_DEVNULL does the same for the process's opens of /dev/null (the
 * workers' spare descriptors): errno values, 0 for the real open64, each
 * open reported as "fail_accept: /dev/null open N done".
 *
 * RS_SHORT_TCP_INFO, when set, makes getsockopt(TCP_INFO) answer with the
 * struct of a kernel before tcpi_bytes_acked (Linux 4.1).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*open64_fn)(const char *, int, ...);
typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);

static atomic_int calls;
static atomic_int devnull_opens;

/* The errno the plan in variable `name` holds for the call numbered
 * `call` (from 0), or 0. */
static int planned_errno(const char *name, int call)
{
    const char *plan = getenv(name);
    while (plan != NULL && *plan != '\0') {
        char *end;
        long value = strtol(plan, &end, 10);
        if (end == plan) {
            return 0;
        }
        if (call-- == 0) {
            return (int)value;
        }
        plan = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* Reports call `call` of `what` on stderr, keeping errno. */
static void report(const char *what, int call)
{
    int saved = errno;
    char line[64];
    int n = snprintf(line, sizeof line, "fail_accept: %s %d done\n", what, call);
    if (n > 0 && write(2, line, (size_t)n) < 0) {
        /* Nothing to do: the report is for tests that wait for it. */
    }
    errno = saved;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int call = atomic_fetch_add(&calls, 1);
    int error = planned_errno("RS_FAIL_ACCEPT", call);
    int result;
    if (error != 0) {
        errno = error;
        result = -1;
    } else {
        accept4_fn real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
        result = real(fd, addr, len, flags);
    }
    report("call", call);
    return result;
}

/* Rust's File::open calls open64. */
int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    open64_fn real = (open64_fn)dlsym(RTLD_NEXT, "open64");
    if (strcmp(path, "/dev/null") != 0) {
        return real(path, flags, mode);
    }
    int call = atomic_fetch_add(&devnull_opens, 1);
    int error = planned_errno("RS_FAIL_DEVNULL", call);
    int result;
    if (error != 0) {
        errno = error;
        result = -1;
    } else {
        result = real(path, flags, mode);
    }
    report("/dev/null open", call);
    return result;
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    getsockopt_fn real = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
    int result = real(fd, level, name, value, len);
    size_t short_len = offsetof(struct tcp_info, tcpi_bytes_acked);
    if (result == 0 && level == IPPROTO_TCP && name == TCP_INFO
        && getenv("RS_SHORT_TCP_INFO") != NULL && *len > short_len) {
        *len = (socklen_t)short_len;
    }
    return result;
}
