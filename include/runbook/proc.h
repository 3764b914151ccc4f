/* Child processes for the exec and shell actions: spawn into a fresh process group, feed stdin and
 * a script on fd 3, capture bounded output live, and stop the whole group on timeout or cancel. */
#ifndef RUNBOOK_PROC_H
#define RUNBOOK_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Contract
 *
 * Ownership. A spec and everything it points to are borrowed for the duration of one call and
 * never kept. A result owns its captured output; release it with rb_proc_result_cleanup().
 *
 * Threads. rb_proc_run() blocks the calling thread until the child is reaped. Several threads may
 * run children at once (no global state). on_output runs on the calling thread, inside the loop:
 * while it runs nothing is read and no timeout fires, so it must return quickly.
 * rb_proc_cancel() may be called from any thread or from a signal handler.
 *
 * The child. It runs in its own process group (pgid = its pid), with every signal at its default
 * action, an empty signal mask, and only fds 0, 1, 2 (and 3 when script_fd_data is set) open.
 * Being outside the terminal's foreground group, it does not get the terminal's Ctrl-C: the
 * executor's SIGINT handler calls rb_proc_cancel(), and the runner stops the group. A child that
 * opens /dev/tty is stopped by SIGTTIN/SIGTTOU; its timeout still ends it.
 *
 * Stopping. On timeout or cancel the group gets SIGTERM (and SIGCONT, so stopped members can act
 * on it); once the child has exited and the output pipes are closed, or grace_ms have passed,
 * whatever is left in the group gets SIGKILL. The direct child is reaped only after that, so its
 * pid, which is the group id, cannot be reused by an unrelated group while it is being signalled.
 * A process that leaves the group (setsid, setpgid) escapes the stop; one we may not signal
 * (it became another user) or that cannot die (uninterruptible sleep) delays the return until
 * the child has exited, since the child is always reaped before returning. If this process is a
 * child subreaper, group members orphaned by the kill are reaped too.
 *
 * Normal exit. Background processes the child started are not killed when it exits on its own
 * (a step may start a daemon on purpose). If they still hold stdout or stderr open RB_PROC_DRAIN_MS
 * after the child exited, reading stops there and output_cut is set; they may then get EPIPE.
 *
 * Signals in the caller. SIGCHLD must not be ignored (the kernel would reap the child and its
 * status would be lost), and no other thread may wait for arbitrary children (wait(),
 * waitpid(-1, ...)). The executor ignores SIGPIPE process-wide; the runner does not rely on it:
 * around each write to the child it blocks SIGPIPE in the calling thread and discards the SIGPIPE
 * a failed write raised, so a child that stops reading never kills us.
 *
 * Platform. Linux first: the script reaches the shell as /dev/fd/3; the child's exit is watched
 * with a pidfd where the kernel has one (else polled every 20 ms). */

#define RB_PROC_GRACE_DEFAULT_MS 2000u
#define RB_PROC_CAPTURE_DEFAULT ((size_t)1 << 20) /* bytes kept per stream */
#define RB_PROC_DRAIN_MS 100u                     /* see "Normal exit" above */

typedef enum { RB_PROC_STDOUT = 1, RB_PROC_STDERR = 2 } rb_proc_stream;

/* Called with each chunk as it is read, in order per stream and across streams in the order
 * they were read. Chunks split anywhere (mid-line, mid-character, mid-secret): a consumer that
 * masks secrets or prints lines must buffer. Every byte is passed, including those beyond the
 * capture limit. */
typedef void (*rb_proc_output_fn)(void *ctx, rb_proc_stream stream, const char *bytes, size_t len);

/* A cancel request that poll() can watch: a pipe that becomes readable and stays so. Once
 * cancelled it stays cancelled, so one token may stop several runs at once (parallel siblings).
 * Fields are private. */
typedef struct rb_proc_cancel_token {
    int fds[2];
} rb_proc_cancel_token;

/* Returns 0, or -1 with errno set. */
int rb_proc_cancel_init(rb_proc_cancel_token *t);
/* Async-signal-safe and thread-safe (one write(); errno preserved). */
void rb_proc_cancel(const rb_proc_cancel_token *t);
/* 1 once rb_proc_cancel() was called. Async-signal-safe. */
int rb_proc_cancel_requested(const rb_proc_cancel_token *t);
/* Only when no run and no signal handler can still use the token. Safe on a failed init. */
void rb_proc_cancel_cleanup(rb_proc_cancel_token *t);

/* Start from rb_proc_spec_init(): a zeroed spec captures nothing and has no grace. */
typedef struct rb_proc_spec {
    /* NULL-terminated. argv[0] containing '/' is a path (relative to cwd); otherwise it is
     * looked up in the PATH of `env` (default "/usr/bin:/bin"); empty and relative PATH entries
     * are skipped, so what runs never depends on the current directory. */
    const char *const *argv;
    /* The child's whole environment, NULL-terminated; NULL means an empty one. Nothing is
     * inherited from this process. */
    const char *const *env;
    const char *cwd; /* NULL: this process's current directory */
    /* Bytes for the child's stdin, then EOF. NULL: stdin is /dev/null. A child that exits or
     * closes stdin before reading it all is not an error. */
    const char *stdin_data;
    size_t stdin_len;
    /* Bytes the child reads from fd 3, then EOF (the script, for rb_proc_run_shell). NULL: fd 3
     * is not open in the child. */
    const char *script_fd_data;
    size_t script_fd_len;
    uint64_t timeout_ms;  /* 0: none. Measured on CLOCK_MONOTONIC from just before the spawn. */
    uint64_t grace_ms;    /* between SIGTERM and SIGKILL; 0: SIGKILL right after SIGTERM */
    size_t capture_limit; /* per stream: keep the first N bytes, count the rest */
    rb_proc_output_fn on_output; /* may be NULL */
    void *on_output_ctx;
    const rb_proc_cancel_token *cancel; /* may be NULL */
    /* Called once on the calling thread right after the child started (it may already be
     * running or even have exited, but it is not reaped yet, so /proc/PID still describes it),
     * before any output is read: the executor journals the process group there. May be NULL. */
    void (*on_spawn)(void *ctx, pid_t pid);
    void *on_spawn_ctx;
} rb_proc_spec;

/* Zeroes a spec and sets grace_ms and capture_limit to their defaults. */
void rb_proc_spec_init(rb_proc_spec *s);

typedef enum {
    RB_PROC_EXITED,       /* exited on its own; see exit_code */
    RB_PROC_SIGNALED,     /* died of a signal we did not send; see signal */
    RB_PROC_TIMED_OUT,    /* stopped by us after timeout_ms */
    RB_PROC_CANCELLED,    /* stopped by us on cancel, or never started: cancelled beforehand */
    RB_PROC_SPAWN_FAILED, /* never started; see error and message */
    RB_PROC_ERROR         /* the runner failed after the start; the group was killed and reaped */
} rb_proc_outcome;

/* "exited", "signaled", "timed_out", "cancelled", "spawn_failed", "error". */
const char *rb_proc_outcome_name(rb_proc_outcome o);

typedef struct rb_proc_capture {
    char *data;       /* NUL-terminated (output may itself hold NULs: use len); owned by result */
    size_t len;       /* bytes kept, at most capture_limit */
    uint64_t dropped; /* bytes read beyond the limit and discarded */
    int truncated;    /* dropped > 0 */
} rb_proc_capture;

typedef struct rb_proc_result {
    rb_proc_outcome outcome;
    int exit_code;     /* the exit status when the child exited (whatever the outcome), else -1 */
    int signal;        /* the signal that ended the child (ours on timeout/cancel), else 0 */
    int error;         /* errno for RB_PROC_SPAWN_FAILED and RB_PROC_ERROR, else 0 */
    char message[256]; /* for those two: "no such command: X", "cannot run X: ...", ... */
    rb_proc_capture out, err;
    uint64_t duration_ms; /* CLOCK_MONOTONIC, from before the spawn to after the reap */
    pid_t pid;            /* the child's pid and process group id; 0 if it never started */
    int output_cut;       /* reading stopped with a pipe still open (see "Normal exit") */
    int group_left;       /* after a normal exit, members of its group still existed (running, or
                           * exited and not yet reaped by their new parent) */
} rb_proc_result;

/* Runs spec->argv and waits for it. Always fills *res (overwriting it; no init needed), which
 * the caller must release with rb_proc_result_cleanup(). Returns -1 when the outcome is
 * RB_PROC_SPAWN_FAILED or RB_PROC_ERROR, else 0: a non-zero exit, a signal, a timeout and a
 * cancel are results, not failures of the runner. out.data and err.data are never NULL unless
 * the outcome is RB_PROC_ERROR with error ENOMEM. Every child started has been reaped on
 * return. */
int rb_proc_run(const rb_proc_spec *spec, rb_proc_result *res);

/* Runs `script` with /bin/sh, handing it over on fd 3 (argv is "/bin/sh /dev/fd/3"), so the
 * script text never appears in any argv (ps, /proc/PID/cmdline) and stdin stays free for
 * spec->stdin_data. The script's own commands inherit fd 3 (it holds what is left of the script).
 * spec->argv and spec->script_fd_* are ignored; the rest applies as for rb_proc_run(). */
int rb_proc_run_shell(const char *script, size_t script_len, const rb_proc_spec *spec,
                      rb_proc_result *res);

/* Frees the captured output and zeroes the result. Safe on a zeroed or cleaned result. */
void rb_proc_result_cleanup(rb_proc_result *res);

/* What /proc/PID/stat says of a process, to tell it from a later one with a recycled pid. */
typedef struct rb_proc_stat {
    char state;                    /* 'R', 'S', 'D', 'Z' (zombie), ... */
    pid_t pgid;                    /* its process group */
    unsigned long long start_time; /* clock ticks after boot when it started (field 22) */
} rb_proc_stat;

/* Fills *st for pid: 0, or -1 when the process is gone or its stat cannot be read. */
int rb_proc_stat_of(pid_t pid, rb_proc_stat *st);

/* This boot's id (/proc/sys/kernel/random/boot_id, 36 characters) into buf: start times count
 * from a boot, so a start time is compared only under the same boot id. 0, or -1 (buf "") when
 * it cannot be read. */
int rb_proc_boot_id(char *buf, size_t size);

#endif
