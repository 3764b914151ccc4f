/* Host name lookups for the actions that connect (ssh, sql), bounded by the call's deadline and
 * stopped by its cancel: c-ares, not getaddrinfo, which cannot be stopped (a resolver that never
 * answers held a step for resolv.conf's timeout x attempts, whatever the step's timeout said). */
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "runbook/action.h"

#define LOOKUP_MAX_FDS (ARES_GETSOCK_MAXNUM + 1)

typedef struct lookup {
    int done, status;
    struct ares_addrinfo *found;
} lookup;

static void on_found(void *arg, int status, int timeouts, struct ares_addrinfo *found)
{
    (void)timeouts;
    lookup *l = arg;
    l->done = 1;
    l->status = status;
    l->found = found;
}

/* The resolver's sockets after slot 0 (the cancel fd). */
static nfds_t lookup_fds(const rb_act_call *c, ares_channel ch, struct pollfd *fds)
{
    nfds_t n = 1;
    fds[0] = (struct pollfd){c->cancel_fd, POLLIN, 0};
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM); /* bit 31 is a write bit */
    for (int k = 0; k < ARES_GETSOCK_MAXNUM; k++) {
        short ev = (short)((bits >> k & 1u ? POLLIN : 0) | (bits >> (k + ARES_GETSOCK_MAXNUM) & 1u ? POLLOUT : 0));
        if (ev)
            fds[n++] = (struct pollfd){socks[k], ev, 0};
    }
    return n;
}

/* Polls until the answer, the deadline or a cancel; 0, or -1 with res failed. */
static int wait_answer(const rb_act_call *c, ares_channel ch, lookup *l, const char *host, rb_act_result *res)
{
    while (!l->done) {
        if (rb_act_cancelled(c))
            return rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled while looking up %s", host), -1;
        struct pollfd fds[LOOKUP_MAX_FDS];
        nfds_t n = lookup_fds(c, ch, fds);
        struct timeval cap = {1, 0}, buf, *next = ares_timeout(ch, &cap, &buf);
        long long ms = (long long)next->tv_sec * 1000 + next->tv_usec / 1000, left = rb_act_remaining_ms(c);
        if (left == 0)
            return rb_act_fail(res, RB_OUT_TIMED_OUT, "timeout", "looking up %s: no answer before the deadline", host), -1;
        if (left > 0 && left < ms)
            ms = left;
        int got = poll(fds, n, (int)(ms < 1 ? 1 : ms));
        if (got < 0 && errno != EINTR)
            return rb_act_fail(res, RB_OUT_FAILED, "connect", "looking up %s: poll: %s", host, strerror(errno)), -1;
        if (fds[0].fd >= 0 && fds[0].revents)
            return rb_act_fail(res, RB_OUT_CANCELLED, "cancelled", "cancelled while looking up %s", host), -1;
        for (nfds_t k = 1; k < n && got > 0; k++) {
            int r = fds[k].revents & (POLLIN | POLLERR | POLLHUP), w = fds[k].revents & POLLOUT;
            if (r || w)
                ares_process_fd(ch, r ? fds[k].fd : ARES_SOCKET_BAD, w ? fds[k].fd : ARES_SOCKET_BAD);
        }
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* resends and c-ares' own timeouts */
    }
    return 0;
}

int rb_act_resolve(const rb_act_call *c, const char *host, const char *port, struct ares_addrinfo **out,
                   rb_act_result *res)
{
    *out = NULL;
    ares_channel ch;
    int rc = ares_init(&ch);
    if (rc != ARES_SUCCESS)
        return rb_act_fail(res, RB_OUT_FAILED, "connect", "cannot set up a resolver: %s", ares_strerror(rc)), -1;
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    lookup l = {0};
    ares_getaddrinfo(ch, host, port, &hints, on_found, &l);
    rc = wait_answer(c, ch, &l, host, res);
    ares_destroy(ch); /* a lookup still running ends here, through on_found */
    if (rc == 0 && l.status == ARES_SUCCESS && l.found && l.found->nodes) {
        *out = l.found;
        return 0;
    }
    if (rc == 0)
        rb_act_fail(res, RB_OUT_FAILED, "connect", "cannot resolve %s: %s", host,
                    l.status == ARES_SUCCESS ? "no address" : ares_strerror(l.status));
    ares_freeaddrinfo(l.found);
    return -1;
}
