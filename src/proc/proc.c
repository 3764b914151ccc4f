/* The child-process runner behind exec and shell: one poll loop pumps stdin, fd 3 and bounded
 * output, watches the clock, the child's exit and the cancel token, and stops the whole group. */
#include "runbook/proc.h"

#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define CAPTURE_FIRST 4096
#define LOW_FD_LIMIT 4  /* our pipe ends live at or above this, clear of the child's 0..3 */
#define EXIT_TICK_MS 20 /* how often the child's exit is polled when there is no pidfd */
#define SHELL_PATH "/bin/sh"

typedef enum { PHASE_RUNNING, PHASE_STOPPING, PHASE_KILLED } stop_phase;

/* Everything one run needs; fds are -1 when closed. */
typedef struct proc_run {
    const rb_proc_spec *spec;
    rb_proc_result *res;
    pid_t pid;
    int pidfd;
    int in_w, fd3_w, out_r, err_r; /* our ends */
    proc_child_fds child;          /* the child's ends, closed after the spawn */
    size_t in_off, fd3_off;
    size_t cap[2]; /* allocated sizes of res->out.data and res->err.data */
    int exited;    /* the child has exited; it stays unreaped (a zombie) until the end */
    int lost;      /* its status vanished (reaped elsewhere): its pid may be reused */
    int cancelled; /* the token fired while running */
    int loop_errno;
    stop_phase phase;
    rb_proc_outcome stop_reason;
    uint64_t start, deadline, kill_at, drain_end;
} proc_run;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* now + ms without wrapping: an absurd timeout means "never", not "already". */
static uint64_t later(uint64_t now, uint64_t ms)
{
    return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

static void close_fd(int *fd)
{
    /* Not retried on EINTR: on Linux the fd is gone either way. */
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- cancel token ---- */

int rb_proc_cancel_init(rb_proc_cancel_token *t)
{
    t->fds[0] = t->fds[1] = -1;
    return pipe2(t->fds, O_CLOEXEC | O_NONBLOCK);
}

void rb_proc_cancel(const rb_proc_cancel_token *t)
{
    int saved = errno;
    ssize_t n;
    /* A full pipe (EAGAIN) is already readable, which is all a cancel needs. */
    do
        n = write(t->fds[1], "x", 1);
    while (n < 0 && errno == EINTR);
    errno = saved;
}

int rb_proc_cancel_requested(const rb_proc_cancel_token *t)
{
    struct pollfd p = {.fd = t->fds[0], .events = POLLIN};
    int saved = errno, n;
    do
        n = poll(&p, 1, 0);
    while (n < 0 && errno == EINTR);
    errno = saved;
    return n > 0 && (p.revents & POLLIN);
}

void rb_proc_cancel_cleanup(rb_proc_cancel_token *t)
{
    close_fd(&t->fds[0]);
    close_fd(&t->fds[1]);
}

/* ---- spec, result ---- */

void rb_proc_spec_init(rb_proc_spec *s)
{
    memset(s, 0, sizeof *s);
    s->grace_ms = RB_PROC_GRACE_DEFAULT_MS;
    s->capture_limit = RB_PROC_CAPTURE_DEFAULT;
}

const char *rb_proc_outcome_name(rb_proc_outcome o)
{
    static const char *const names[] = {"exited",    "signaled",     "timed_out",
                                        "cancelled", "spawn_failed", "error"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "unknown";
}

void rb_proc_result_cleanup(rb_proc_result *res)
{
    free(res->out.data);
    free(res->err.data);
    memset(res, 0, sizeof *res);
}

/* Gives both captures an empty string, so callers never meet NULL. */
static int result_start(rb_proc_result *res)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    res->out.data = calloc(1, 1);
    res->err.data = calloc(1, 1);
    if (res->out.data && res->err.data)
        return 0;
    free(res->out.data);
    free(res->err.data);
    res->out.data = res->err.data = NULL;
    proc_fail(res, RB_PROC_ERROR, ENOMEM, "out of memory");
    return -1;
}

/* ---- output capture ---- */

/* Grows to hold `need` bytes, never past `max`; a failure just keeps less. */
static int capture_grow(rb_proc_capture *c, size_t *cap, size_t need, size_t max)
{
    size_t n = *cap > CAPTURE_FIRST ? *cap : CAPTURE_FIRST;
    if (need <= *cap)
        return 0;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > max)
        n = max;
    char *p = realloc(c->data, n);
    if (!p)
        return -1;
    c->data = p;
    *cap = n;
    return 0;
}

static void capture_add(rb_proc_capture *c, size_t *cap, size_t limit, const char *b, size_t n)
{
    if (limit > SIZE_MAX - 1)
        limit = SIZE_MAX - 1;
    size_t room = limit - c->len;
    size_t keep = n < room ? n : room;
    if (keep && capture_grow(c, cap, c->len + keep + 1, limit + 1) < 0)
        keep = 0;
    if (keep) {
        memcpy(c->data + c->len, b, keep);
        c->len += keep;
        c->data[c->len] = '\0';
    }
    c->dropped += n - keep;
    c->truncated = c->dropped > 0;
}

/* ---- pipes and writes ---- */

/* Moves fd to LOW_FD_LIMIT or above, so the child's dup2 onto 0..3 cannot clobber another end. */
static int lift_fd(int fd)
{
    if (fd < 0 || fd >= LOW_FD_LIMIT)
        return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, LOW_FD_LIMIT);
    int saved = errno;
    close(fd);
    errno = saved;
    return hi;
}

/* A close-on-exec pipe; `ours` (0 or 1) is the end this process keeps, made non-blocking. The
 * child's end stays blocking: many programs misbehave on a non-blocking stdin or stdout. */
static int open_pipe(int *ours, int *theirs, int our_end)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    p[0] = lift_fd(p[0]);
    p[1] = lift_fd(p[1]);
    if (p[0] < 0 || p[1] < 0 || fcntl(p[our_end], F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;
        close_fd(&p[0]);
        close_fd(&p[1]);
        errno = saved;
        return -1;
    }
    *ours = p[our_end];
    *theirs = p[!our_end];
    return 0;
}

/* write() with SIGPIPE blocked in this thread; a SIGPIPE the write itself raised is taken off
 * the pending set before unblocking, so it is never delivered. One that was already pending is
 * left alone: it is not ours. */
static ssize_t write_quietly(int fd, const char *b, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w;
    do
        w = write(fd, b, n);
    while (w < 0 && errno == EINTR);
    int saved = errno;
    if (w < 0 && saved == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return w;
}

/* Feeds the rest of data; closes the fd when all is written (EOF for the child) or the child
 * stopped reading (EPIPE). */
static void pump_out(int *fd, const char *data, size_t len, size_t *off)
{
    if (*off < len) {
        ssize_t w = write_quietly(*fd, data + *off, len - *off);
        if (w > 0)
            *off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            *off = len; /* the reader is gone: nothing more can be delivered */
    }
    if (*off >= len)
        close_fd(fd);
}

static void pump_in(proc_run *r, int *fd, rb_proc_stream stream, rb_proc_capture *c, size_t *cap)
{
    char buf[READ_CHUNK];
    ssize_t n;
    do
        n = read(*fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    if (r->spec->on_output)
        r->spec->on_output(r->spec->on_output_ctx, stream, buf, (size_t)n);
    capture_add(c, cap, r->spec->capture_limit, buf, (size_t)n);
}

/* ---- starting ---- */

static int open_pipes(proc_run *r)
{
    if (r->spec->stdin_data && open_pipe(&r->in_w, &r->child.in, 1) < 0)
        return -1;
    if (r->spec->script_fd_data && open_pipe(&r->fd3_w, &r->child.fd3, 1) < 0)
        return -1;
    if (open_pipe(&r->out_r, &r->child.out, 0) < 0 || open_pipe(&r->err_r, &r->child.err, 0) < 0)
        return -1;
    return 0;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    /* Readable once the child exits; the fd is close-on-exec by default. */
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* ---- the loop ---- */

static int pipes_closed(const proc_run *r)
{
    return r->out_r < 0 && r->err_r < 0;
}

static void signal_group(const proc_run *r, int sig)
{
    /* Safe while the child is unreaped: its pid, the group id, cannot be handed out again. */
    if (!r->lost)
        kill(-r->pid, sig);
}

static void mark_exited(proc_run *r, uint64_t now)
{
    r->exited = 1;
    r->drain_end = now + RB_PROC_DRAIN_MS;
    close_fd(&r->in_w);
    close_fd(&r->fd3_w);
    close_fd(&r->pidfd);
}

/* Notices the exit without reaping (WNOWAIT), so the group id stays ours until the end. */
static void check_exit(proc_run *r, uint64_t now)
{
    siginfo_t si;
    int rc;
    memset(&si, 0, sizeof si);
    do
        rc = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        r->lost = errno ? errno : ECHILD;
    if (rc < 0 || si.si_pid == r->pid)
        mark_exited(r, now);
}

static void start_stop(proc_run *r, rb_proc_outcome why, uint64_t now)
{
    r->stop_reason = why;
    r->phase = PHASE_STOPPING;
    r->kill_at = later(now, r->spec->grace_ms);
    signal_group(r, SIGTERM);
    signal_group(r, SIGCONT); /* a stopped member could not act on the TERM */
    close_fd(&r->in_w);
    close_fd(&r->fd3_w);
}

static void advance(proc_run *r, uint64_t now)
{
    if (r->phase == PHASE_RUNNING && !r->exited) {
        if (r->cancelled)
            start_stop(r, RB_PROC_CANCELLED, now);
        else if (r->deadline && now >= r->deadline)
            start_stop(r, RB_PROC_TIMED_OUT, now);
    }
    /* Waiting out the grace only makes sense while someone may still be shutting down. */
    if (r->phase == PHASE_STOPPING && (now >= r->kill_at || (r->exited && pipes_closed(r)))) {
        signal_group(r, SIGKILL);
        r->phase = PHASE_KILLED;
        r->drain_end = now + RB_PROC_DRAIN_MS;
    }
}

static int finished(const proc_run *r, uint64_t now)
{
    if (!r->exited || r->phase == PHASE_STOPPING)
        return 0;
    return pipes_closed(r) || now >= r->drain_end;
}

static int poll_timeout(const proc_run *r, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (r->phase == PHASE_RUNNING && !r->exited && r->deadline)
        next = r->deadline;
    if (r->phase == PHASE_STOPPING)
        next = min_u64(next, r->kill_at);
    if (r->exited && r->phase != PHASE_STOPPING)
        next = min_u64(next, r->drain_end);
    if (!r->exited && r->pidfd < 0)
        next = min_u64(next, now + EXIT_TICK_MS);
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)min_u64(next - now, INT_MAX);
}

enum { SLOT_OUT, SLOT_ERR, SLOT_IN, SLOT_FD3, SLOT_PID, SLOT_CANCEL, SLOT_COUNT };

static void fill_pollfds(const proc_run *r, struct pollfd *p)
{
    int watch_cancel = r->spec->cancel && r->phase == PHASE_RUNNING && !r->exited && !r->cancelled;
    p[SLOT_OUT] = (struct pollfd){.fd = r->out_r, .events = POLLIN};
    p[SLOT_ERR] = (struct pollfd){.fd = r->err_r, .events = POLLIN};
    p[SLOT_IN] = (struct pollfd){.fd = r->in_w, .events = POLLOUT};
    p[SLOT_FD3] = (struct pollfd){.fd = r->fd3_w, .events = POLLOUT};
    p[SLOT_PID] = (struct pollfd){.fd = r->exited ? -1 : r->pidfd, .events = POLLIN};
    p[SLOT_CANCEL] =
        (struct pollfd){.fd = watch_cancel ? r->spec->cancel->fds[0] : -1, .events = POLLIN};
}

/* One round: wait for anything, then serve what is ready. Returns -1 if poll itself failed. */
static int loop_once(proc_run *r, uint64_t now)
{
    struct pollfd p[SLOT_COUNT];
    fill_pollfds(r, p);
    int n = poll(p, SLOT_COUNT, poll_timeout(r, now));
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    /* POLLHUP and POLLERR count as ready: the read or write then sees EOF or the error. */
    if (p[SLOT_OUT].revents)
        pump_in(r, &r->out_r, RB_PROC_STDOUT, &r->res->out, &r->cap[0]);
    if (p[SLOT_ERR].revents)
        pump_in(r, &r->err_r, RB_PROC_STDERR, &r->res->err, &r->cap[1]);
    if (p[SLOT_IN].revents)
        pump_out(&r->in_w, r->spec->stdin_data, r->spec->stdin_len, &r->in_off);
    if (p[SLOT_FD3].revents)
        pump_out(&r->fd3_w, r->spec->script_fd_data, r->spec->script_fd_len, &r->fd3_off);
    if (p[SLOT_CANCEL].revents)
        r->cancelled = 1;
    if (!r->exited && (r->pidfd < 0 || p[SLOT_PID].revents))
        check_exit(r, now_ms());
    return 0;
}

static void run_loop(proc_run *r)
{
    for (;;) {
        uint64_t now = now_ms();
        advance(r, now);
        if (finished(r, now))
            return;
        if (loop_once(r, now) < 0) {
            r->loop_errno = errno;
            signal_group(r, SIGKILL);
            return;
        }
    }
}

/* ---- reaping and the result ---- */

static void reap(proc_run *r)
{
    int status = 0;
    pid_t w = -1;
    if (!r->lost) {
        do
            w = waitpid(r->pid, &status, 0);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            r->lost = errno;
    }
    if (r->phase != PHASE_RUNNING && !r->lost) {
        /* Members orphaned by the kill are our children if this process is a subreaper. */
        while (waitpid(-r->pid, NULL, WNOHANG) > 0) {
        }
    } else if (!r->lost) {
        r->res->group_left = kill(-r->pid, 0) == 0;
    }
    if (w == r->pid && WIFEXITED(status))
        r->res->exit_code = WEXITSTATUS(status);
    if (w == r->pid && WIFSIGNALED(status))
        r->res->signal = WTERMSIG(status);
}

static void set_outcome(proc_run *r)
{
    rb_proc_result *res = r->res;
    if (r->loop_errno)
        proc_fail(res, RB_PROC_ERROR, r->loop_errno, "waiting for %s failed: %s", r->spec->argv[0],
                  strerror(r->loop_errno));
    else if (r->lost)
        proc_fail(res, RB_PROC_ERROR, r->lost, "the exit status of %s was lost: %s",
                  r->spec->argv[0], strerror(r->lost));
    else if (r->phase != PHASE_RUNNING)
        res->outcome = r->stop_reason;
    else
        res->outcome = res->signal ? RB_PROC_SIGNALED : RB_PROC_EXITED;
}

static void close_all(proc_run *r)
{
    int *fds[] = {&r->in_w,     &r->fd3_w,     &r->out_r,     &r->err_r,    &r->pidfd,
                  &r->child.in, &r->child.fd3, &r->child.out, &r->child.err};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close_fd(fds[i]);
}

static void close_child_ends(proc_run *r)
{
    close_fd(&r->child.in);
    close_fd(&r->child.fd3);
    close_fd(&r->child.out);
    close_fd(&r->child.err);
}

static void run_init(proc_run *r, const rb_proc_spec *spec, rb_proc_result *res)
{
    memset(r, 0, sizeof *r);
    r->spec = spec;
    r->res = res;
    r->pidfd = r->in_w = r->fd3_w = r->out_r = r->err_r = -1;
    r->child = (proc_child_fds){-1, -1, -1, -1};
    r->cap[0] = r->cap[1] = 1; /* result_start allocated one byte each */
}

/* Creates the pipes and starts the child; on failure fills res. */
static int start_child(proc_run *r)
{
    if (open_pipes(r) < 0) {
        proc_fail(r->res, RB_PROC_SPAWN_FAILED, errno, "cannot create pipes for %s: %s",
                  r->spec->argv && r->spec->argv[0] ? r->spec->argv[0] : "", strerror(errno));
        return -1;
    }
    int rc = proc_spawn(r->spec, &r->child, &r->pid, r->res);
    close_child_ends(r);
    if (rc < 0)
        return -1;
    r->pidfd = open_pidfd(r->pid);
    if (r->spec->on_spawn)
        r->spec->on_spawn(r->spec->on_spawn_ctx, r->pid);
    /* Nothing to feed is an immediate EOF. */
    if (r->in_w >= 0 && r->spec->stdin_len == 0)
        close_fd(&r->in_w);
    if (r->fd3_w >= 0 && r->spec->script_fd_len == 0)
        close_fd(&r->fd3_w);
    return 0;
}

int rb_proc_run(const rb_proc_spec *spec, rb_proc_result *res)
{
    proc_run r;
    if (result_start(res) < 0)
        return -1;
    run_init(&r, spec, res);
    r.start = now_ms();
    if (spec->cancel && rb_proc_cancel_requested(spec->cancel)) {
        res->outcome = RB_PROC_CANCELLED;
        return 0;
    }
    if (start_child(&r) < 0) {
        close_all(&r);
        res->duration_ms = now_ms() - r.start;
        return -1;
    }
    res->pid = r.pid;
    r.deadline = spec->timeout_ms ? later(r.start, spec->timeout_ms) : 0;
    run_loop(&r);
    reap(&r);
    res->output_cut = !pipes_closed(&r);
    close_all(&r);
    set_outcome(&r);
    res->duration_ms = now_ms() - r.start;
    return res->outcome == RB_PROC_ERROR ? -1 : 0;
}

int rb_proc_run_shell(const char *script, size_t script_len, const rb_proc_spec *spec,
                      rb_proc_result *res)
{
    static const char *const argv[] = {SHELL_PATH, "/dev/fd/3", NULL};
    rb_proc_spec s = *spec;
    s.argv = argv;
    s.script_fd_data = script ? script : "";
    s.script_fd_len = script ? script_len : 0;
    return rb_proc_run(&s, res);
}
