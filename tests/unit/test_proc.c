/* The child-process runner against real processes: exit status, bounded capture, stdin, timeouts
 * that leave nothing behind, cancel, and argv and script text out of the shell's reach. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runbook/proc.h"

#define WATCHDOG_S 60 /* a hung run kills the test instead of stalling the suite */
#define SLACK_MS 3000

static const char *const base_env[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
static int fds_at_start;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    fds_at_start = count_fds();
    alarm(WATCHDOG_S);
    return 0;
}

/* Every test must leave no child unreaped and no fd open. */
static int teardown(void **state)
{
    alarm(0);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(count_fds(), fds_at_start);
    return 0;
}

static void spec_for(rb_proc_spec *s, const char *const *argv)
{
    rb_proc_spec_init(s);
    s->argv = argv;
    s->env = base_env;
}

static void run_ok(const rb_proc_spec *s, rb_proc_result *r)
{
    assert_int_equal(rb_proc_run(s, r), 0);
}

/* Waits for every member of group `pgid` to be gone, reaping those re-parented to us (this test
 * is a subreaper, since the sandbox's init may not reap orphans). */
static int group_gone(pid_t pgid, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0) {
        }
        if (kill(-pgid, 0) < 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int pid_gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* ---- exit status and capture ---- */

/* Peak resident memory in KiB. */
static long peak_rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    assert_true(kib > 0);
    return kib;
}

static void test_capture_is_bounded(void **state)
{
    /* First test, so the peak reflects this run and not an earlier one. */
    const char *argv[] = {"sh", "-c", "yes | head -c 10485760", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.capture_limit = 1 << 20;
    long before = peak_rss_kib();
    run_ok(&s, &r);
    long after = peak_rss_kib();
    assert_int_equal(r.outcome, RB_PROC_EXITED);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out.len, 1 << 20);
    assert_true(r.out.truncated);
    assert_int_equal(r.out.dropped, 10485760 - (1 << 20));
    assert_int_equal(r.out.data[r.out.len], '\0');
    assert_memory_equal(r.out.data, "y\ny\n", 4);
    assert_false(r.err.truncated);
    assert_true(after - before < 6 * 1024); /* far below the 10 MiB produced */
    rb_proc_result_cleanup(&r);
}

static void test_exit_codes(void **state)
{
    const char *t[] = {"true", NULL};
    const char *three[] = {"sh", "-c", "exit 3", NULL};
    const char *usr1[] = {"sh", "-c", "kill -USR1 $$", NULL};
    rb_proc_spec s;
    rb_proc_result r;

    spec_for(&s, t);
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_EXITED);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.signal, 0);
    assert_true(r.pid > 0);
    rb_proc_result_cleanup(&r);

    spec_for(&s, three);
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_EXITED);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(rb_proc_outcome_name(r.outcome), "exited");
    rb_proc_result_cleanup(&r);

    spec_for(&s, usr1);
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_SIGNALED);
    assert_int_equal(r.signal, SIGUSR1);
    assert_int_equal(r.exit_code, -1);
    rb_proc_result_cleanup(&r);
}

static void test_stdout_and_stderr_are_captured_apart(void **state)
{
    const char *argv[] = {"sh", "-c", "printf 'out\\0put'; printf err >&2; exit 1", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    run_ok(&s, &r);
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(r.out.len, 7);
    assert_memory_equal(r.out.data, "out\0put", 8); /* includes the terminating NUL */
    assert_string_equal(r.err.data, "err");
    assert_false(r.out.truncated);
    assert_int_equal(r.out.dropped, 0);
    assert_false(r.output_cut);
    assert_true(r.duration_ms < 10000);
    rb_proc_result_cleanup(&r);
}

static void test_no_output_is_an_empty_string(void **state)
{
    const char *argv[] = {"true", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    run_ok(&s, &r);
    assert_non_null(r.out.data);
    assert_string_equal(r.out.data, "");
    assert_string_equal(r.err.data, "");
    rb_proc_result_cleanup(&r);
    rb_proc_result_cleanup(&r); /* twice is harmless */
}

/* ---- stdin ---- */

static void test_stdin_megabyte_through_cat(void **state)
{
    const size_t n = 1 << 20;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 23);
    const char *argv[] = {"cat", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.stdin_data = data;
    s.stdin_len = n;
    s.capture_limit = 2 * n;
    run_ok(&s, &r);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out.len, n);
    assert_memory_equal(r.out.data, data, n);
    rb_proc_result_cleanup(&r);
    free(data);
}

static void test_stdin_unread_does_not_kill_us(void **state)
{
    /* The child exits without reading: our write gets EPIPE, and SIGPIPE at its default action
     * would end this test process if the runner let it through. */
    const size_t n = 4 << 20;
    char *data = calloc(1, n);
    assert_non_null(data);
    signal(SIGPIPE, SIG_DFL);
    const char *argv[] = {"sh", "-c", "head -c 10 >/dev/null; exit 4", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.stdin_data = data;
    s.stdin_len = n;
    run_ok(&s, &r);
    assert_int_equal(r.exit_code, 4);
    rb_proc_result_cleanup(&r);
    free(data);
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
}

static void test_stdin_none_and_empty(void **state)
{
    const char *argv[] = {"sh", "-c", "wc -c; readlink /proc/self/fd/0", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    run_ok(&s, &r);
    assert_string_equal(r.out.data, "0\n/dev/null\n");
    rb_proc_result_cleanup(&r);

    s.stdin_data = "";
    s.stdin_len = 0;
    run_ok(&s, &r);
    assert_non_null(strstr(r.out.data, "0\npipe:"));
    rb_proc_result_cleanup(&r);
}

/* ---- environment and directory ---- */

static void test_env_is_exactly_the_given_one(void **state)
{
    const char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    const char *argv[] = {"env", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    setenv("RB_TEST_LEAK", "must-not-be-seen", 1);
    spec_for(&s, argv);
    s.env = env;
    run_ok(&s, &r);
    assert_string_equal(r.out.data, "FOO=bar baz\nPATH=/usr/bin:/bin\n");
    rb_proc_result_cleanup(&r);

    const char *abs[] = {"/usr/bin/env", NULL};
    s.argv = abs;
    s.env = NULL;
    run_ok(&s, &r);
    assert_string_equal(r.out.data, "");
    rb_proc_result_cleanup(&r);
    unsetenv("RB_TEST_LEAK");
}

static void test_cwd(void **state)
{
    char dir[] = "/tmp/rb-proc-cwd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *argv[] = {"pwd", "-P", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.cwd = dir;
    run_ok(&s, &r);
    char *real = realpath(dir, NULL);
    char want[4200];
    snprintf(want, sizeof want, "%s\n", real);
    assert_string_equal(r.out.data, want);
    rb_proc_result_cleanup(&r);
    free(real);
    rmdir(dir);

    s.cwd = "/nonexistent-rb-dir";
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_int_equal(r.outcome, RB_PROC_SPAWN_FAILED);
    assert_int_equal(r.error, ENOENT);
    assert_string_equal(
        r.message, "cannot change to directory /nonexistent-rb-dir: No such file or directory");
    assert_int_equal(r.pid, 0);
    rb_proc_result_cleanup(&r);
}

/* ---- timeouts, grace, cancel ---- */

static pid_t first_pid(const char *text)
{
    long v = strtol(text, NULL, 10);
    assert_true(v > 1);
    return (pid_t)v;
}

static void test_timeout_stops_the_whole_group(void **state)
{
    const char *argv[] = {"sh", "-c", "sleep 999 & echo $!; wait", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.timeout_ms = 500;
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_TIMED_OUT);
    assert_string_equal(rb_proc_outcome_name(r.outcome), "timed_out");
    assert_int_equal(r.signal, SIGTERM);
    assert_true(r.duration_ms >= 500);
    assert_true(r.duration_ms < 500 + RB_PROC_GRACE_DEFAULT_MS + SLACK_MS);
    pid_t bg = first_pid(r.out.data);
    assert_true(group_gone(r.pid, 5000));
    assert_true(pid_gone(bg));
    assert_true(pid_gone(r.pid));
    rb_proc_result_cleanup(&r);
}

static void test_term_ignored_gets_kill_after_grace(void **state)
{
    const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 999; echo after", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.timeout_ms = 300;
    s.grace_ms = 700;
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_TIMED_OUT);
    assert_int_equal(r.signal, SIGKILL);
    assert_string_equal(r.out.data, "ready\n");
    assert_true(r.duration_ms >= 300 + 700);
    assert_true(r.duration_ms < 300 + 700 + SLACK_MS);
    assert_true(group_gone(r.pid, 5000));
    rb_proc_result_cleanup(&r);
}

/* A background member that ignores TERM keeps the output open after the shell died: the grace
 * is waited out, then KILL reaches it too. */
static void test_term_ignoring_grandchild_is_killed(void **state)
{
    const char *argv[] = {"sh", "-c", "(trap '' TERM; sleep 999) & echo $!; wait", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.timeout_ms = 300;
    s.grace_ms = 800;
    uint64_t cpu = thread_cpu_ms();
    run_ok(&s, &r);
    cpu = thread_cpu_ms() - cpu;
    assert_int_equal(r.outcome, RB_PROC_TIMED_OUT);
    assert_int_equal(r.signal, SIGTERM); /* the shell itself obeyed */
    assert_true(r.duration_ms >= 300 + 800);
    assert_true(r.duration_ms < 300 + 800 + SLACK_MS);
    assert_true(cpu < 100); /* the grace is slept through, not spun through */
    pid_t bg = first_pid(r.out.data);
    assert_true(group_gone(r.pid, 5000));
    assert_true(pid_gone(bg));
    rb_proc_result_cleanup(&r);
}

typedef struct canceller {
    const rb_proc_cancel_token *token;
    unsigned delay_ms;
} canceller;

static void *cancel_later(void *arg)
{
    const canceller *c = arg;
    usleep(c->delay_ms * 1000u);
    rb_proc_cancel(c->token);
    return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
    rb_proc_cancel_token tok;
    assert_int_equal(rb_proc_cancel_init(&tok), 0);
    assert_false(rb_proc_cancel_requested(&tok));
    canceller c = {&tok, 300};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    const char *argv[] = {"sh", "-c", "sleep 999 & wait", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.cancel = &tok;
    uint64_t t0 = mono_ms();
    run_ok(&s, &r);
    pthread_join(th, NULL);
    assert_int_equal(r.outcome, RB_PROC_CANCELLED);
    assert_int_equal(r.signal, SIGTERM);
    assert_true(mono_ms() - t0 >= 300);
    assert_true(mono_ms() - t0 < 300 + RB_PROC_GRACE_DEFAULT_MS + SLACK_MS);
    assert_true(group_gone(r.pid, 5000));
    assert_true(rb_proc_cancel_requested(&tok));
    rb_proc_result_cleanup(&r);

    /* Still cancelled: the next run does not even start. */
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_CANCELLED);
    assert_int_equal(r.pid, 0);
    rb_proc_result_cleanup(&r);
    rb_proc_cancel_cleanup(&tok);
}

static rb_proc_cancel_token *handler_token;

static void on_usr2(int sig)
{
    rb_proc_cancel(handler_token);
}

static void *signal_later(void *arg)
{
    usleep(300 * 1000);
    kill(getpid(), SIGUSR2);
    return NULL;
}

static void test_cancel_from_signal_handler(void **state)
{
    rb_proc_cancel_token tok;
    assert_int_equal(rb_proc_cancel_init(&tok), 0);
    handler_token = &tok;
    struct sigaction sa = {.sa_handler = on_usr2}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, signal_later, NULL), 0);
    const char *argv[] = {"sleep", "999", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.cancel = &tok;
    run_ok(&s, &r);
    pthread_join(th, NULL);
    sigaction(SIGUSR2, &old, NULL);
    assert_int_equal(r.outcome, RB_PROC_CANCELLED);
    assert_true(r.duration_ms < 300 + SLACK_MS);
    rb_proc_result_cleanup(&r);
    rb_proc_cancel_cleanup(&tok);
}

/* Two runs watching one token stop together, as parallel siblings do. */
typedef struct sibling {
    const rb_proc_cancel_token *token;
    rb_proc_result res;
} sibling;

static void *run_sibling(void *arg)
{
    sibling *sib = arg;
    const char *argv[] = {"sleep", "999", NULL};
    rb_proc_spec s;
    spec_for(&s, argv);
    s.cancel = sib->token;
    rb_proc_run(&s, &sib->res);
    return NULL;
}

static void test_one_token_cancels_siblings(void **state)
{
    rb_proc_cancel_token tok;
    assert_int_equal(rb_proc_cancel_init(&tok), 0);
    sibling sibs[2] = {{&tok, {0}}, {&tok, {0}}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_sibling, &sibs[i]), 0);
    usleep(300 * 1000);
    rb_proc_cancel(&tok);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sibs[i].res.outcome, RB_PROC_CANCELLED);
        rb_proc_result_cleanup(&sibs[i].res);
    }
    rb_proc_cancel_cleanup(&tok);
}

/* After a normal exit, a background process holding stdout does not keep us waiting. */
static void test_background_holder_is_drained_briefly(void **state)
{
    const char *argv[] = {"sh", "-c", "sleep 5 & echo hi", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    run_ok(&s, &r);
    assert_int_equal(r.outcome, RB_PROC_EXITED);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out.data, "hi\n");
    assert_true(r.output_cut);
    assert_true(r.group_left);
    assert_true(r.duration_ms < 2500);
    kill(-r.pid, SIGKILL); /* the test's own cleanup: the runner leaves it running on purpose */
    assert_true(group_gone(r.pid, 5000));
    rb_proc_result_cleanup(&r);
}

/* ---- spawn failures ---- */

static void test_command_not_found(void **state)
{
    const char *missing[] = {"no-such-command-rb", "x", NULL};
    const char *missing_path[] = {"/nonexistent/rb-cmd", NULL};
    rb_proc_spec s;
    rb_proc_result r;

    spec_for(&s, missing);
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_int_equal(r.outcome, RB_PROC_SPAWN_FAILED);
    assert_string_equal(rb_proc_outcome_name(r.outcome), "spawn_failed");
    assert_int_equal(r.error, ENOENT);
    assert_string_equal(r.message, "no such command: no-such-command-rb");
    assert_int_equal(r.pid, 0);
    assert_string_equal(r.out.data, "");
    rb_proc_result_cleanup(&r);

    spec_for(&s, missing_path);
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_string_equal(r.message, "no such command: /nonexistent/rb-cmd");
    rb_proc_result_cleanup(&r);

    const char *empty[] = {"", NULL};
    spec_for(&s, empty);
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_int_equal(r.error, EINVAL);
    rb_proc_result_cleanup(&r);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* Not executable, and "." in PATH: neither is run. */
static void test_path_lookup_is_strict(void **state)
{
    char dir[] = "/tmp/rb-proc-path-XXXXXX", tool[64], plain[64], env_path[80];
    assert_non_null(mkdtemp(dir));
    snprintf(tool, sizeof tool, "%s/rbtool", dir);
    snprintf(plain, sizeof plain, "%s/rbplain", dir);
    write_file(tool, "#!/bin/sh\necho tool\n", 0755);
    write_file(plain, "#!/bin/sh\necho plain\n", 0644);
    snprintf(env_path, sizeof env_path, "PATH=%s", dir);
    const char *env[] = {env_path, NULL};
    const char *rel_env[] = {"PATH=.:", NULL};
    const char *tool_argv[] = {"rbtool", NULL};
    const char *plain_argv[] = {"rbplain", NULL};
    rb_proc_spec s;
    rb_proc_result r;

    spec_for(&s, tool_argv);
    s.env = env;
    run_ok(&s, &r);
    assert_string_equal(r.out.data, "tool\n");
    rb_proc_result_cleanup(&r);

    /* rbtool is right there in both our directory and the child's, yet not found. */
    char *here = getcwd(NULL, 0);
    assert_int_equal(chdir(dir), 0);
    s.env = rel_env;
    s.cwd = dir;
    int rc = rb_proc_run(&s, &r);
    assert_int_equal(chdir(here), 0);
    free(here);
    assert_int_equal(rc, -1);
    assert_string_equal(r.message, "no such command: rbtool");
    rb_proc_result_cleanup(&r);

    spec_for(&s, plain_argv);
    s.env = env;
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_int_equal(r.error, EACCES);
    assert_string_equal(r.message, "cannot run rbplain: Permission denied");
    rb_proc_result_cleanup(&r);

    char interp[80], dir_msg[96];
    snprintf(interp, sizeof interp, "%s/rbinterp", dir);
    write_file(interp, "#!/nonexistent/interpreter\n", 0755);
    const char *interp_argv[] = {interp, NULL};
    spec_for(&s, interp_argv);
    assert_int_equal(rb_proc_run(&s, &r), -1);
    assert_int_equal(r.error, ENOENT);
    assert_non_null(strstr(r.message, "its interpreter or a library it needs is missing"));
    rb_proc_result_cleanup(&r);

    const char *dir_argv[] = {dir, NULL};
    spec_for(&s, dir_argv);
    assert_int_equal(rb_proc_run(&s, &r), -1);
    snprintf(dir_msg, sizeof dir_msg, "cannot run %s: Permission denied", dir);
    assert_string_equal(r.message, dir_msg);
    rb_proc_result_cleanup(&r);

    unlink(interp);
    unlink(tool);
    unlink(plain);
    rmdir(dir);
}

/* ---- the script on fd 3 ---- */

static void test_script_never_in_cmdline(void **state)
{
    const char *script = "SECRET='canary-7f3a9'\n"
                         "cat\n"
                         "tr '\\000' ' ' </proc/$$/cmdline; echo\n"
                         "echo \"len=${#SECRET}\"\n";
    rb_proc_spec s;
    rb_proc_result r;
    rb_proc_spec_init(&s);
    s.env = base_env;
    s.stdin_data = "from-stdin\n";
    s.stdin_len = strlen(s.stdin_data);
    assert_int_equal(rb_proc_run_shell(script, strlen(script), &s, &r), 0);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out.data, "from-stdin\n/bin/sh /dev/fd/3 \nlen=12\n");
    assert_null(strstr(r.out.data, "canary"));
    rb_proc_result_cleanup(&r);
}

static void test_large_script_on_fd3(void **state)
{
    /* Far beyond a pipe's buffer, so the script is fed while the shell reads it. */
    size_t lines = 20000, cap = lines * 16 + 64, n = 0;
    char *script = malloc(cap);
    assert_non_null(script);
    for (size_t i = 0; i < lines; i++)
        n += (size_t)snprintf(script + n, cap - n, "x=%zu\n", i);
    n += (size_t)snprintf(script + n, cap - n, "echo \"last $x\"\n");
    rb_proc_spec s;
    rb_proc_result r;
    rb_proc_spec_init(&s);
    s.env = base_env;
    assert_int_equal(rb_proc_run_shell(script, n, &s, &r), 0);
    assert_string_equal(r.out.data, "last 19999\n");
    rb_proc_result_cleanup(&r);
    free(script);
}

static void test_shell_exit_status_and_stderr(void **state)
{
    const char *script = "echo oops >&2\nexit 7\necho unreachable\n";
    rb_proc_spec s;
    rb_proc_result r;
    rb_proc_spec_init(&s);
    s.env = base_env;
    assert_int_equal(rb_proc_run_shell(script, strlen(script), &s, &r), 0);
    assert_int_equal(r.exit_code, 7);
    assert_string_equal(r.err.data, "oops\n");
    assert_string_equal(r.out.data, "");
    rb_proc_result_cleanup(&r);
}

/* ---- live output ---- */

typedef struct chunk_log {
    char out[256], err[256];
    size_t out_len, err_len;
    char order[16]; /* 'o' or 'e' per change of stream */
    size_t norder;
    uint64_t first_at;
} chunk_log;

static void log_chunk(void *ctx, rb_proc_stream stream, const char *b, size_t len)
{
    chunk_log *log = ctx;
    char tag = stream == RB_PROC_STDOUT ? 'o' : 'e';
    char *dst = stream == RB_PROC_STDOUT ? log->out : log->err;
    size_t *dlen = stream == RB_PROC_STDOUT ? &log->out_len : &log->err_len;
    if (!log->first_at)
        log->first_at = mono_ms();
    if ((log->norder == 0 || log->order[log->norder - 1] != tag) && log->norder < 15)
        log->order[log->norder++] = tag;
    assert_true(*dlen + len < 256);
    memcpy(dst + *dlen, b, len);
    *dlen += len;
}

static void test_on_output_sees_chunks_live_and_in_order(void **state)
{
    const char *argv[] = {
        "sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; sleep 0.3", NULL};
    chunk_log log = {0};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.on_output = log_chunk;
    s.on_output_ctx = &log;
    uint64_t t0 = mono_ms();
    run_ok(&s, &r);
    uint64_t t1 = mono_ms();
    assert_string_equal(log.order, "oeo");
    assert_int_equal(log.out_len, r.out.len);
    assert_memory_equal(log.out, "one\nthree\n", log.out_len);
    assert_memory_equal(log.err, "two\n", log.err_len);
    assert_string_equal(r.out.data, "one\nthree\n");
    assert_true(log.first_at - t0 < t1 - t0 - 500); /* seen while the child still ran */
    rb_proc_result_cleanup(&r);
}

static void test_on_output_gets_bytes_beyond_the_limit(void **state)
{
    const char *argv[] = {"printf", "0123456789", NULL};
    chunk_log log = {0};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.capture_limit = 4;
    s.on_output = log_chunk;
    s.on_output_ctx = &log;
    run_ok(&s, &r);
    assert_string_equal(r.out.data, "0123");
    assert_int_equal(r.out.dropped, 6);
    assert_true(r.out.truncated);
    assert_int_equal(log.out_len, 10);
    rb_proc_result_cleanup(&r);
}

/* ---- what the child starts with ---- */

static void test_argv_canaries_stay_literal(void **state)
{
    char dir[] = "/tmp/rb-proc-inj-XXXXXX", path[80];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/y", dir);
    write_file(path, "keep\n", 0644);
    const char *argv[] = {"printf", "%s\\n", "$(touch x); rm -rf y", "`id`",    "a\nb", "-n",
                          "--",     "*",     "'\"; exit 1",          "${HOME}", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spec_for(&s, argv);
    s.cwd = dir;
    run_ok(&s, &r);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out.data, "$(touch x); rm -rf y\n`id`\na\nb\n-n\n--\n*\n'\"; exit 1\n"
                                    "${HOME}\n");
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/x", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/y", dir);
    unlink(path);
    rmdir(dir);
    rb_proc_result_cleanup(&r);
}

static void test_child_starts_clean(void **state)
{
    /* A leaked fd without close-on-exec, a blocked and an ignored signal in this process:
     * none of them may reach the child. The child reads its own status, not its shell's: a
     * shell blocks signals for a moment around each fork. */
    int leak = dup2(STDERR_FILENO, 57);
    assert_int_equal(leak, 57);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    void (*old_hup)(int) = signal(SIGHUP, SIG_IGN);
    const char *status_argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    const char *fd_argv[] = {"sh", "-c", "[ -e /proc/$$/fd/57 ] && echo leaked; ls /proc/$$/fd",
                             NULL};
    const char *pgid_argv[] = {"sh", "-c", "cut -d' ' -f5 /proc/$$/stat", NULL};
    rb_proc_spec s;
    rb_proc_result st, fds, pg;
    spec_for(&s, status_argv);
    run_ok(&s, &st);
    s.argv = fd_argv;
    run_ok(&s, &fds);
    s.argv = pgid_argv;
    run_ok(&s, &pg);
    signal(SIGHUP, old_hup);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(leak);
    char pgid[32];
    snprintf(pgid, sizeof pgid, "%d\n", (int)pg.pid);
    char status[160], open_fds[160], group[32];
    snprintf(status, sizeof status, "%s", st.out.data);
    snprintf(open_fds, sizeof open_fds, "%s", fds.out.data);
    snprintf(group, sizeof group, "%s", pg.out.data);
    rb_proc_result_cleanup(&st);
    rb_proc_result_cleanup(&fds);
    rb_proc_result_cleanup(&pg);
    assert_string_equal(status, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    assert_string_equal(open_fds, "0\n1\n2\n");
    assert_string_equal(group, pgid);
}

/* What on_spawn saw of the child while it ran. */
typedef struct spawn_seen {
    int calls;
    pid_t pid;
    rb_proc_stat st;
    int stat_rc;
} spawn_seen;

static void note_spawn(void *ctx, pid_t pid)
{
    spawn_seen *s = ctx;
    s->calls++;
    s->pid = pid;
    s->stat_rc = rb_proc_stat_of(pid, &s->st);
}

static void test_on_spawn_names_the_group_and_start_time(void **state)
{
    /* The child's command name holds ") " and digits, as a hostile one could: the stat line is
     * read from its last ')'. The child prints its own group and start time (fields 5, 22). */
    char dir[] = "/tmp/rb-proc-spawn.XXXXXX", link[96];
    assert_non_null(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/x) 1 2 (y", dir);
    assert_int_equal(symlink("/bin/sh", link), 0);
    const char *argv[] = {link, "-c", "sed 's/.*) //' /proc/$$/stat | cut -d' ' -f3,20", NULL};
    rb_proc_spec s;
    rb_proc_result r;
    spawn_seen seen = {0};
    spec_for(&s, argv);
    s.on_spawn = note_spawn;
    s.on_spawn_ctx = &seen;
    run_ok(&s, &r);
    char want[64];
    snprintf(want, sizeof want, "%d %llu\n", (int)seen.pid, seen.st.start_time);
    char got[64];
    snprintf(got, sizeof got, "%s", r.out.data);
    pid_t pid = r.pid;
    rb_proc_result_cleanup(&r);
    unlink(link);
    rmdir(dir);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.pid, pid);
    assert_int_equal(seen.stat_rc, 0);
    assert_int_equal(seen.st.pgid, pid);
    assert_true(seen.st.start_time > 0);
    assert_string_equal(got, want);
    char boot[64];
    assert_int_equal(rb_proc_boot_id(boot, sizeof boot), 0);
    assert_int_equal(strlen(boot), 36);
    assert_int_equal(rb_proc_boot_id(boot, 10), -1);
    assert_string_equal(boot, "");
}

int main(void)
{
    /* Orphaned grandchildren come to us, so tests can check that they are gone even where the
     * system's init does not reap. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_capture_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdout_and_stderr_are_captured_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_output_is_an_empty_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_megabyte_through_cat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_unread_does_not_kill_us, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_none_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_is_exactly_the_given_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_stops_the_whole_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_term_ignored_gets_kill_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_term_ignoring_grandchild_is_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_signal_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_token_cancels_siblings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_holder_is_drained_briefly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_lookup_is_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_never_in_cmdline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_script_on_fd3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_exit_status_and_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_output_sees_chunks_live_and_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_on_output_gets_bytes_beyond_the_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_argv_canaries_stay_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_starts_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_spawn_names_the_group_and_start_time, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
