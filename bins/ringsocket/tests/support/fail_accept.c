/* fail_accept.c: an LD_PRELOAD shim for the server's tests, making
 * accept4(2) fail on demand. The kernel returns accept's rarer errors
 * (ECONNABORTED, ENOBUFS, ...) only in conditions a test cannot set up on
 * loopback.
 *
 * RS_FAIL_ACCEPT holds comma-separated errno values: the first accept4
 * calls of the process fail with them, in order, leaving the connection
 * in the listen queue; later calls go to the real accept4.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

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

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int error = planned_errno(atomic_fetch_add(&calls, 1));
    if (error != 0) {
        errno = error;
        return -1;
    }
    accept4_fn real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    return real(fd, addr, len, flags);
}
