/* Cancel links: a thread that cancels one token when another is cancelled or a deadline comes.
 * A called runbook stops with its caller (an interrupt, the caller's own failure or deadline)
 * and also on its own deadline or the calling step's timeout, without stopping the caller. */
#include <errno.h>
#include <poll.h>

#include "internal.h"

static void *link_thread(void *arg)
{
    cancel_link *l = arg;
    for (;;) {
        if (rb_proc_cancel_requested(&l->stop))
            return NULL;
        if (l->source && rb_proc_cancel_requested(l->source))
            break;
        long long left = l->deadline_ms > 0 ? l->deadline_ms - now_ms() : 60000;
        if (l->deadline_ms > 0 && left <= 0)
            break;
        struct pollfd p[2] = {{l->stop.fds[0], POLLIN, 0}, {l->source ? l->source->fds[0] : -1, POLLIN, 0}};
        if (poll(p, 2, left > 60000 ? 60000 : (int)left) < 0 && errno != EINTR)
            break; /* cannot wait: better stopped early than never */
    }
    rb_proc_cancel(l->target);
    return NULL;
}

int cancel_link_start(cancel_link *l, const rb_proc_cancel_token *source, rb_proc_cancel_token *target,
                      long long deadline_ms)
{
    l->source = source, l->target = target, l->deadline_ms = deadline_ms, l->started = 0;
    if (!source && deadline_ms <= 0)
        return 0; /* nothing to watch */
    if (rb_proc_cancel_init(&l->stop) != 0)
        return -1;
    if (pthread_create(&l->thread, NULL, link_thread, l) != 0) {
        rb_proc_cancel_cleanup(&l->stop);
        return -1;
    }
    l->started = 1;
    return 0;
}

void cancel_link_stop(cancel_link *l)
{
    if (!l->started)
        return;
    rb_proc_cancel(&l->stop);
    pthread_join(l->thread, NULL);
    rb_proc_cancel_cleanup(&l->stop);
    l->started = 0;
}
