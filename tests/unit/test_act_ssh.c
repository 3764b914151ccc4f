/* The ssh action against a real private sshd (tests/servers/sshd.sh) on 127.0.0.1: key and
 * password logins, every known_hosts verdict, the RSA refusal, secrets kept out of argv, a
 * remote command ended by a timeout or a cancel, one connection per slot, and SFTP writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "actions/ssh_session.h"
#include "runbook/action.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define WATCHDOG_S 110 /* a hung call kills the test instead of stalling the suite */

static char dir[256];      /* the server's folder */
static char port[16], key_user[64], pw_user[64], password[128];
static int server_up;

/* libssh2 1.10 leaks a BIGNUM for each ECDSA key it loads (inside libssh2: no frame of ours
 * allocates one); everything else must be freed. The slow unwinder sees through libcrypto's
 * frames to BN_new. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:BN_new\n"; }
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }

/* ---- the server ---- */

static void run_script(const char *verb)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/servers/sshd.sh' %s '%s' >/dev/null",
             getenv("RUNBOOK_SOURCE_DIR") ? getenv("RUNBOOK_SOURCE_DIR") : ".", verb, dir);
    assert_int_equal(system(cmd), 0);
}

static void stop_server(void)
{
    if (!server_up)
        return;
    server_up = 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/servers/sshd.sh' stop '%s'; rm -rf '%s'",
             getenv("RUNBOOK_SOURCE_DIR") ? getenv("RUNBOOK_SOURCE_DIR") : ".", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "stopping sshd failed\n");
}

static void read_env(void)
{
    char path[300], line[256];
    snprintf(path, sizeof path, "%s/server.env", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = 0;
        char *dst = !strcmp(line, "PORT") ? port : !strcmp(line, "KEY_USER") ? key_user
                  : !strcmp(line, "PASSWORD_USER") ? pw_user : !strcmp(line, "PASSWORD") ? password : NULL;
        if (dst)
            snprintf(dst, 64, "%s", v);
    }
    fclose(f);
}

static int group_setup(void **state)
{
    (void)state;
    alarm(WATCHDOG_S);
    snprintf(dir, sizeof dir, "/tmp/rbssh.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    chmod(dir, 0755); /* the password user's commands run in it too */
    server_up = 1;
    atexit(stop_server);
    run_script("start");
    read_env();
    unsetenv("SSH_AUTH_SOCK"); /* tests name their own way to log in */
    char err[128];
    return rb_ssh_ops.global_init(err, sizeof err);
}

static int group_teardown(void **state)
{
    (void)state;
    rb_ssh_ops.global_cleanup();
    stop_server();
    return 0;
}

/* ---- calls ---- */

static char *in_dir(const char *name)
{
    static char paths[4][320];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

/* A target for the key user with the ed25519 key and the plain known_hosts. */
static json_t *target(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "ssh", "host", "127.0.0.1", "port", port,
                     "user", key_user, "key", in_dir("id_ed25519"), "known_hosts", in_dir("known_hosts"));
}

typedef struct live {
    char text[4096];
    size_t len;
} live;

static void on_output(void *ctx, int stream, const char *bytes, size_t len)
{
    live *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%d:%.*s|", stream, (int)len, bytes);
    if (n > 0 && l->len + (size_t)n < sizeof l->text)
        l->len += (size_t)n;
}

typedef struct call {
    json_t *target, *params;
    long long timeout_ms;
    int cancel_fd;
    void **conn;
    rb_act_result res;
    live out;
    long long took_ms;
} call;

static void call_init(call *k, json_t *tgt, const char *command)
{
    memset(k, 0, sizeof *k);
    k->target = tgt;
    k->params = json_pack("{s:s}", "command", command);
    k->timeout_ms = 20000;
    k->cancel_fd = -1;
}

static int call_run(call *k)
{
    rb_act_call c = {.params = k->params, .target = k->target, .target_name = "box", .cancel_fd = k->cancel_fd,
                     .on_output = on_output, .out_ctx = &k->out, .conn = k->conn};
    long long t0 = rb_act_now_ms();
    c.deadline_ms = k->timeout_ms ? t0 + k->timeout_ms : 0;
    int rc = rb_ssh_ops.run(&c, &k->res);
    k->took_ms = rb_act_now_ms() - t0;
    return rc;
}

static void call_done(call *k)
{
    json_decref(k->target);
    json_decref(k->params);
    json_decref(k->res.outputs);
}

static const char *out(const call *k, const char *key)
{
    return json_string_value(json_object_get(k->res.outputs, key));
}

static long long exit_code(const call *k)
{
    return json_integer_value(json_object_get(k->res.outputs, "exit_code"));
}

/* Runs `command` on `tgt` and checks it succeeded. */
static void run_ok(call *k, json_t *tgt, const char *command)
{
    call_init(k, tgt, command);
    call_run(k);
    if (k->res.outcome != RB_OUT_SUCCEEDED)
        fail_msg("%s: %s (%s)", command, k->res.message, k->res.errclass);
}

static void run_refused(call *k, json_t *tgt, const char *errclass)
{
    call_init(k, tgt, "echo should-not-run");
    assert_int_not_equal(call_run(k), 0);
    assert_int_equal(k->res.outcome, RB_OUT_FAILED);
    assert_string_equal(k->res.errclass, errclass);
}

/* How many processes have `needle` in their argv; *hits counts any secret seen. */
static int procs_with(const char *needle, size_t nlen)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    char path[300], buf[8192];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        if (fd >= 0)
            close(fd);
        if (len > 0 && memmem(buf, (size_t)len, needle, nlen))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Waits up to 5 s for no process to have `needle` in its argv. */
static void assert_gone(const char *needle)
{
    for (int i = 0; i < 50 && procs_with(needle, strlen(needle)); i++)
        usleep(100000);
    assert_int_equal(procs_with(needle, strlen(needle)), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    *len = fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *data = slurp(from, &len);
    assert_non_null(data);
    FILE *f = fopen(to, "w");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
    free(data);
}

/* ---- logins ---- */

static void test_ed25519_key_outputs_and_exit_code(void **state)
{
    (void)state;
    call k;
    run_ok(&k, target(), "echo hi; echo err >&2; exit 3");
    assert_int_equal(exit_code(&k), 3);
    assert_string_equal(out(&k, "stdout"), "hi\n");
    assert_string_equal(out(&k, "stderr"), "err\n");
    assert_non_null(strstr(k.out.text, "1:hi\n|"));
    assert_non_null(strstr(k.out.text, "2:err\n|"));
    json_t *want3 = json_pack("{s:i}", "exit_code", 3);
    rb_ssh_ops.judge(want3, &k.res);
    assert_int_equal(k.res.outcome, RB_OUT_SUCCEEDED);
    rb_ssh_ops.judge(NULL, &k.res); /* the default rule: exit code 0 */
    assert_int_equal(k.res.outcome, RB_OUT_FAILED);
    assert_string_equal(k.res.errclass, "3");
    json_decref(want3);
    call_done(&k);
}

static void test_ecdsa_key(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_set_new(t, "key", json_string(in_dir("id_ecdsa")));
    run_ok(&k, t, "echo ecdsa");
    assert_string_equal(out(&k, "stdout"), "ecdsa\n");
    call_done(&k);
}

static void test_password_login_keeps_the_password_out(void **state)
{
    (void)state;
    if (!*pw_user)
        skip(); /* needs root: see sshd.sh */
    call k;
    json_t *t = target();
    json_object_del(t, "key");
    json_object_set_new(t, "user", json_string(pw_user));
    json_object_set_new(t, "password", json_string(password));
    run_ok(&k, t, "id -un");
    char want[80];
    snprintf(want, sizeof want, "%s\n", pw_user);
    assert_string_equal(out(&k, "stdout"), want);
    char *dump = json_dumps(k.res.outputs, 0);
    assert_null(strstr(dump, password));
    assert_null(strstr(k.res.message, password));
    free(dump);
    call_done(&k);

    t = target();
    json_object_del(t, "key");
    json_object_set_new(t, "user", json_string(pw_user));
    json_object_set_new(t, "password", json_string("wrong-canary-Zq81"));
    run_refused(&k, t, "auth");
    assert_null(strstr(k.res.message, "wrong-canary-Zq81"));
    call_done(&k);
}

static void test_rsa_key_gets_the_clear_message(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_set_new(t, "key", json_string(in_dir("id_rsa")));
    run_refused(&k, t, "auth");
    assert_non_null(strstr(k.res.message, "RSA keys cannot be used by this build's libssh2 1.10"));
    assert_non_null(strstr(k.res.message, "ed25519 or ecdsa"));
    call_done(&k);
}

static void test_no_credentials_says_so(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_del(t, "key");
    run_refused(&k, t, "auth");
    assert_non_null(strstr(k.res.message, "no way to log in"));
    call_done(&k);
}

static void test_agent_login(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ssh-agent -a agent.sock > agent.env && . ./agent.env >/dev/null && "
             "ssh-add -q id_ed25519 2>/dev/null", dir);
    assert_int_equal(system(cmd), 0);
    setenv("SSH_AUTH_SOCK", in_dir("agent.sock"), 1);
    call k;
    json_t *t = target();
    json_object_del(t, "key");
    json_object_set_new(t, "agent", json_string("true"));
    run_ok(&k, t, "echo agent");
    assert_string_equal(out(&k, "stdout"), "agent\n");
    call_done(&k);
    t = target(); /* no way named: the agent is tried */
    json_object_del(t, "key");
    run_ok(&k, t, "echo default");
    call_done(&k);
    unsetenv("SSH_AUTH_SOCK");
    snprintf(cmd, sizeof cmd, "cd '%s' && . ./agent.env >/dev/null && ssh-agent -k >/dev/null", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- host keys ---- */

static void test_hashed_known_hosts_accepted(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_set_new(t, "known_hosts", json_string(in_dir("known_hosts.hashed")));
    run_ok(&k, t, "true");
    call_done(&k);
}

static void test_unknown_host_refused_with_the_fix(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    fclose(fopen(in_dir("known_hosts.empty"), "w"));
    json_object_set_new(t, "known_hosts", json_string(in_dir("known_hosts.empty")));
    run_refused(&k, t, "hostkey");
    char fix[64];
    snprintf(fix, sizeof fix, "ssh-keyscan -p %s 127.0.0.1 >>", port);
    assert_non_null(strstr(k.res.message, fix));
    assert_non_null(strstr(k.res.message, "accept-new"));
    assert_non_null(strstr(k.res.message, "SHA256:"));
    call_done(&k);

    t = target(); /* no file at all: the same advice */
    json_object_set_new(t, "known_hosts", json_string(in_dir("no-such-known_hosts")));
    run_refused(&k, t, "hostkey");
    assert_non_null(strstr(k.res.message, fix));
    call_done(&k);
}

static void test_changed_key_refused(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_set_new(t, "known_hosts", json_string(in_dir("known_hosts.wrong")));
    run_refused(&k, t, "hostkey");
    assert_non_null(strstr(k.res.message, "REFUSED: the host key of"));
    assert_non_null(strstr(k.res.message, "changed"));
    assert_non_null(strstr(k.res.message, "SHA256:"));
    call_done(&k);
}

/* The server has an ed25519 and an ecdsa key and the client picks one: a file with just the
 * picked type lets us in, a file with just the other type must read as changed, not new. */
static void test_host_known_under_another_type_is_changed(void **state)
{
    (void)state;
    const char *files[] = {"known_hosts.ed25519", "known_hosts.ecdsa"};
    int ok = 0, changed = 0;
    for (int i = 0; i < 2; i++) {
        call k;
        json_t *t = target();
        json_object_set_new(t, "known_hosts", json_string(in_dir(files[i])));
        call_init(&k, t, "true");
        call_run(&k);
        ok += k.res.outcome == RB_OUT_SUCCEEDED;
        changed += !strcmp(k.res.errclass, "hostkey") && strstr(k.res.message, "changed") &&
                   strstr(k.res.message, "another key type");
        call_done(&k);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(changed, 1);
}

static void test_accept_new_appends_but_still_refuses_a_change(void **state)
{
    (void)state;
    call k;
    char file[320];
    snprintf(file, sizeof file, "%s", in_dir("known_hosts.accept"));
    FILE *f = fopen(file, "w");
    fputs("# no newline at the end", f);
    fclose(f);
    json_t *t = target();
    json_object_set_new(t, "known_hosts", json_string(file));
    json_object_set_new(t, "host_key_check", json_string("accept-new"));
    run_ok(&k, t, "true");
    call_done(&k);
    size_t len;
    char *text = slurp(file, &len), want[64];
    snprintf(want, sizeof want, "\n[127.0.0.1]:%s ", port);
    assert_non_null(strstr(text, want));
    free(text);

    t = target(); /* the appended entry is a good one */
    json_object_set_new(t, "known_hosts", json_string(file));
    run_ok(&k, t, "true");
    call_done(&k);

    copy_file(in_dir("known_hosts.wrong"), file);
    t = target();
    json_object_set_new(t, "known_hosts", json_string(file));
    json_object_set_new(t, "host_key_check", json_string("accept-new"));
    run_refused(&k, t, "hostkey");
    assert_non_null(strstr(k.res.message, "changed"));
    call_done(&k);
}

static void test_host_key_check_false_is_a_choice(void **state)
{
    (void)state;
    call k;
    json_t *t = target();
    json_object_set_new(t, "known_hosts", json_string(in_dir("known_hosts.wrong")));
    json_object_set_new(t, "host_key_check", json_string("false"));
    run_ok(&k, t, "true");
    call_done(&k);
}

/* ---- values, stdin, secrets ---- */

typedef struct bg {
    call k;
    pthread_t th;
    volatile int done;
} bg;

static void *bg_run(void *arg)
{
    call_run(&((bg *)arg)->k);
    __atomic_store_n(&((bg *)arg)->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_env_and_stdin_stay_out_of_argv(void **state)
{
    (void)state;
    const char *canary = "cAn'ary $HOME Qx7";
    bg b = {.done = 0};
    call_init(&b.k, target(), "printf '%s\\n' \"$RB_CANARY\"; cat; sleep 1.75");
    json_object_set_new(b.k.params, "env", json_pack("{s:s}", "RB_CANARY", canary));
    json_object_set_new(b.k.params, "stdin", json_string("stdin-canary Wv3\n"));
    assert_int_equal(pthread_create(&b.th, NULL, bg_run, &b), 0);
    int seen_sleep = 0, leaks = 0;
    while (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST)) { /* until the command is done */
        leaks += procs_with("Qx7", 3) + procs_with("Wv3", 3);
        seen_sleep |= procs_with("1.75", 4) > 0;
        usleep(50000);
    }
    pthread_join(b.th, NULL);
    assert_int_equal(b.k.res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(out(&b.k, "stdout"), "cAn'ary $HOME Qx7\nstdin-canary Wv3\n");
    assert_true(seen_sleep);
    assert_int_equal(leaks, 0);
    call_done(&b.k);
}

static void test_bad_env_name_refused(void **state)
{
    (void)state;
    call k;
    call_init(&k, target(), "true");
    json_object_set_new(k.params, "env", json_pack("{s:s}", "A;B", "x"));
    assert_int_not_equal(call_run(&k), 0);
    assert_string_equal(k.res.errclass, "refused");
    call_done(&k);
}

static void test_remote_signal(void **state)
{
    (void)state;
    call k;
    call_init(&k, target(), "kill -TERM $$");
    call_run(&k);
    assert_int_equal(k.res.outcome, RB_OUT_FAILED);
    assert_string_equal(k.res.errclass, "signal");
    assert_int_equal(exit_code(&k), -1);
    call_done(&k);
}

/* ---- servers that do not answer as sshd does ---- */

/* A listening socket on 127.0.0.1 (its port in *portno); with a backlog, connections to it
 * complete and then hear nothing: no banner ever comes. */
static int silent_listener(int *portno)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 8), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *portno = ntohs(a.sin_port);
    return s;
}

static json_t *target_on(int portno)
{
    json_t *t = target();
    char p[16];
    snprintf(p, sizeof p, "%d", portno);
    json_object_set_new(t, "port", json_string(p));
    return t;
}

static void test_closed_port_is_refused_at_once(void **state)
{
    (void)state;
    int portno, s = silent_listener(&portno);
    close(s); /* nothing listens there now */
    call k;
    call_init(&k, target_on(portno), "echo should-not-run");
    assert_int_not_equal(call_run(&k), 0);
    assert_int_equal(k.res.outcome, RB_OUT_FAILED);
    assert_string_equal(k.res.errclass, "connect");
    assert_non_null(strstr(k.res.message, "refused"));
    assert_in_range(k.took_ms, 0, 1000);
    call_done(&k);
}

static void test_silent_listener_times_out(void **state)
{
    (void)state;
    int portno, s = silent_listener(&portno);
    call k;
    call_init(&k, target_on(portno), "echo should-not-run");
    k.timeout_ms = 1200;
    assert_int_not_equal(call_run(&k), 0);
    assert_int_equal(k.res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(k.res.errclass, "timeout");
    assert_in_range(k.took_ms, 1200, 2200); /* within a second of its value */
    close(s);
    call_done(&k);
}

/* ---- ending remote commands ---- */

static void test_timeout_ends_the_remote_command(void **state)
{
    (void)state;
    void *slot = NULL;
    bg b = {.done = 0};
    call_init(&b.k, target(), "sleep 301.25");
    b.k.timeout_ms = 4000; /* the login alone can take a second or two under ASan */
    b.k.conn = &slot;
    assert_int_equal(pthread_create(&b.th, NULL, bg_run, &b), 0);
    int seen = 0; /* the command ran: its being gone afterwards means something */
    while (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST)) {
        seen |= procs_with("301.25", 6) > 0;
        usleep(50000);
    }
    pthread_join(b.th, NULL);
    assert_true(seen);
    assert_int_equal(b.k.res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(b.k.res.errclass, "timeout");
    assert_in_range(b.k.took_ms, 4000, 5000);
    assert_null(slot); /* the session was closed */
    assert_gone("301.25");
    call_done(&b.k);
}

static void *cancel_later(void *arg)
{
    usleep(700000);
    if (write(*(int *)arg, "x", 1) != 1)
        perror("write");
    return NULL;
}

static void test_cancel_ends_the_remote_command(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pthread_t th;
    call k;
    call_init(&k, target(), "sleep 302.25");
    k.cancel_fd = p[0];
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &p[1]), 0);
    call_run(&k);
    pthread_join(th, NULL);
    assert_int_equal(k.res.outcome, RB_OUT_CANCELLED);
    assert_string_equal(k.res.errclass, "cancelled");
    assert_in_range(k.took_ms, 600, 1700);
    assert_gone("302.25");
    close(p[0]);
    close(p[1]);
    call_done(&k);
}

/* ---- connections ---- */

static void test_one_connection_per_slot(void **state)
{
    (void)state;
    void *slot = NULL, *other = NULL;
    call a, b, d;
    call_init(&a, target(), "echo $SSH_CLIENT");
    a.conn = &slot;
    call_run(&a);
    call_init(&b, target(), "echo $SSH_CLIENT");
    b.conn = &slot;
    call_run(&b);
    call_init(&d, target(), "echo $SSH_CLIENT");
    d.conn = &other;
    call_run(&d);
    assert_int_equal(a.res.outcome, RB_OUT_SUCCEEDED);
    assert_non_null(slot);
    assert_string_equal(out(&a, "stdout"), out(&b, "stdout"));
    assert_string_not_equal(out(&a, "stdout"), out(&d, "stdout"));
    rb_ssh_ops.disconnect(slot);
    rb_ssh_ops.disconnect(other);
    call_done(&a);
    call_done(&b);
    call_done(&d);
}

static void test_broken_connection_reopened_once(void **state)
{
    (void)state;
    void *slot = NULL;
    call a, b;
    call_init(&a, target(), "echo $SSH_CLIENT");
    a.conn = &slot;
    call_run(&a);
    assert_non_null(slot);
    shutdown(((rb_ssh *)slot)->sock, SHUT_RDWR); /* the network drops it between steps */
    call_init(&b, target(), "echo $SSH_CLIENT");
    b.conn = &slot;
    call_run(&b);
    assert_int_equal(b.res.outcome, RB_OUT_SUCCEEDED);
    assert_string_not_equal(out(&a, "stdout"), out(&b, "stdout"));
    assert_non_null(slot);
    rb_ssh_ops.disconnect(slot);
    call_done(&a);
    call_done(&b);
}

static void test_output_is_bounded(void **state)
{
    (void)state;
    call k;
    run_ok(&k, target(), "head -c 1200000 /dev/zero | tr '\\0' a");
    const char *o = out(&k, "stdout");
    assert_in_range(strlen(o), 1u << 20, (1u << 20) + 100);
    assert_non_null(strstr(o, "[runbook: 151424 more bytes of stdout dropped]"));
    call_done(&k);
}

/* ---- SFTP ---- */

static rb_ssh *open_session(rb_act_call *c, json_t *t)
{
    rb_act_result res = {0};
    c->target = t;
    c->cancel_fd = -1;
    c->deadline_ms = rb_act_now_ms() + 20000;
    rb_ssh *s = rb_ssh_open(c, &res);
    if (!s)
        fail_msg("%s", res.message);
    return s;
}

static void assert_file(const char *path, const char *content, mode_t mode)
{
    struct stat st;
    size_t len;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, mode);
    char *text = slurp(path, &len);
    assert_string_equal(text, content);
    free(text);
}

static int temp_files_left(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strstr(e->d_name, "sftp.txt.rb") != NULL;
    closedir(d);
    return n;
}

static void test_sftp_write_restore_remove(void **state)
{
    (void)state;
    rb_act_call c = {0};
    json_t *t = target();
    rb_ssh *s = open_session(&c, t);
    rb_act_result res = {0};
    char path[320], fresh[320];
    snprintf(path, sizeof path, "%s", in_dir("sftp.txt"));
    snprintf(fresh, sizeof fresh, "%s", in_dir("sftp-new.txt"));
    rb_sftp_file old;

    FILE *f = fopen(path, "w");
    fputs("old text\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(rb_ssh_sftp_read(s, &c, path, &old, &res), 0);
    assert_int_equal(old.len, 9);
    assert_memory_equal(old.data, "old text\n", 9);
    assert_int_equal(old.mode, 0600);
    assert_int_equal(rb_ssh_sftp_write(s, &c, path, "new text\n", 9, 0640, &old, &res), 0);
    assert_file(path, "new text\n", 0640);
    assert_int_equal(rb_ssh_sftp_restore(s, &c, path, &old, &res), 0);
    assert_file(path, "old text\n", 0600);
    rb_sftp_file_free(&old);

    assert_int_equal(rb_ssh_sftp_read(s, &c, fresh, &old, &res), 1);
    assert_int_equal(rb_ssh_sftp_write(s, &c, fresh, "x", 1, 0640, NULL, &res), 0);
    assert_file(fresh, "x", 0640);
    assert_int_equal(rb_ssh_sftp_restore(s, &c, fresh, NULL, &res), 0);
    assert_int_equal(access(fresh, F_OK), -1);
    assert_int_equal(temp_files_left(), 0);

    assert_int_equal(rb_ssh_sftp_write(s, &c, "/nonexistent-dir/x", "x", 1, 0640, NULL, &res), -1);
    assert_string_equal(res.errclass, "io");
    rb_ssh_close(s, 1000);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519_key_outputs_and_exit_code),
        cmocka_unit_test(test_ecdsa_key),
        cmocka_unit_test(test_password_login_keeps_the_password_out),
        cmocka_unit_test(test_rsa_key_gets_the_clear_message),
        cmocka_unit_test(test_no_credentials_says_so),
        cmocka_unit_test(test_agent_login),
        cmocka_unit_test(test_hashed_known_hosts_accepted),
        cmocka_unit_test(test_unknown_host_refused_with_the_fix),
        cmocka_unit_test(test_changed_key_refused),
        cmocka_unit_test(test_host_known_under_another_type_is_changed),
        cmocka_unit_test(test_accept_new_appends_but_still_refuses_a_change),
        cmocka_unit_test(test_host_key_check_false_is_a_choice),
        cmocka_unit_test(test_env_and_stdin_stay_out_of_argv),
        cmocka_unit_test(test_bad_env_name_refused),
        cmocka_unit_test(test_remote_signal),
        cmocka_unit_test(test_closed_port_is_refused_at_once),
        cmocka_unit_test(test_silent_listener_times_out),
        cmocka_unit_test(test_timeout_ends_the_remote_command),
        cmocka_unit_test(test_cancel_ends_the_remote_command),
        cmocka_unit_test(test_one_connection_per_slot),
        cmocka_unit_test(test_broken_connection_reopened_once),
        cmocka_unit_test(test_output_is_bounded),
        cmocka_unit_test(test_sftp_write_restore_remove),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
