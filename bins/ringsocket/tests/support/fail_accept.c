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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static atomic_int calls;

/* The errno planned for the call numbered `call` (from 0), or 0. */
static int planned_errno(int call)
{
    const char *plan = getenv("RS_FAIL_ACCEPT");
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

/* Reports call `call` on stderr, keeping errno. */
static void report(int call)
{
    int saved = errno;
    char line[64];
    int n = snprintf(line, sizeof line, "fail_accept: call %d done\n", call);
    if (n > 0 && write(2, line, (size_t)n) < 0) {
        /* Nothing to do: the report is for tests that wait for it. */
    }
    errno = saved;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int call = atomic_fetch_add(&calls, 1);
    int error = planned_errno(call);
    int result;
    if (error != 0) {
        errno = error;
        result = -1;
    } else {
        accept4_fn real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
        result = real(fd, addr, len, flags);
    }
    report(call);
    return result;
}
