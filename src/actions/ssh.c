/* The ssh action: one command on an ssh target, over a new exec channel of the run's session
 * to that target (ssh_session.c), with live bounded output, the exit status, and a remote
 * command that ends when the channel does (timeout, cancel). */
#include <stdlib.h>
#include <string.h>

#include "runbook/jsonstr.h"
#include "ssh_session.h"

#define OUT_MAX (1u << 20)       /* bytes kept of stdout and of stderr each */
#define PAYLOAD_MAX (16u << 20)  /* command + env + stdin */
#define READ_CHUNK 16384

/* How a command travels. Values never go into the exec request: sshd hands it to the login
 * shell as `$SHELL -c REQUEST`, whose argv every user of the host may read (ps,
 * /proc/PID/cmdline). The request is this fixed wrapper; everything else comes over the
 * channel's stdin as a frame:
 *
 *   <bytes of SCRIPT>\n<bytes of DATA>\nSCRIPT DATA
 *
 * SCRIPT is `export NAME='value'` lines for `env`, then the command text (its ${{ }} values are
 * quoted words already); DATA is the `stdin` parameter. The wrapper reads both into variables
 * (`read` and `head -c` take no more than asked), then runs SCRIPT with `eval` in a fresh
 * /bin/sh whose stdin is DATA. SCRIPT reaches that shell in its environment (RB_SCRIPT, unset
 * before eval), readable only by the same user, never in an argv. So env and stdin work
 * together, and secrets stay out of every process list.
 *
 * Ending with the channel: we never send EOF while the command runs, so the rest of the
 * wrapper's stdin stays open; a watcher waits on it (`cat`). When the channel or connection
 * ends (our timeout or cancel sends EOF, then drops the session), the watcher gets EOF and
 * kills the command's process group (setsid made it one), TERM then KILL 2 s later. libssh2
 * 1.10 sends no signals, and a pty would merge stderr into stdout. A command killed by a
 * signal is re-raised on the wrapper so sshd reports exit-signal; a command that itself
 * exits 128+N for those signals is reported as signal N too. */
static const char wrapper[] =
    "exec /bin/sh -c '"
    "IFS= read -r n && IFS= read -r m || exit 255\n"
    "s=$(head -c \"$n\"; echo .) && d=$(head -c \"$m\"; echo .) || exit 255\n"
    "command -v setsid >/dev/null && S=setsid || S=\n"
    "exec 3<&0\n"
    "printf %s \"${d%.}\" | RB_SCRIPT=${s%.} $S /bin/sh -c "
    "\"s=\\$RB_SCRIPT; unset RB_SCRIPT; eval \\\"\\$s\\\"\" 3<&- &\n"
    "p=$!\n"
    "{ cat >/dev/null; kill -TERM -\"$p\" || kill -TERM \"$p\"; sleep 2;"
    " kill -KILL -\"$p\" || kill -KILL \"$p\"; } <&3 >/dev/null 2>&1 &\n"
    "w=$!\n"
    "exec 3<&-\n"
    "wait \"$p\"; r=$?\n"
    "kill \"$w\" 2>/dev/null\n"
    "case $r in 129|130|131|134|137|141|142|143) kill -$((r - 128)) $$;; esac\n"
    "exit \"$r\"'";

typedef struct out_buf {
    char *data;
    size_t len, dropped;
} out_buf;

typedef struct ssh_run {
    const rb_act_call *c;
    rb_act_result *res;
    rb_ssh *s;
    LIBSSH2_CHANNEL *ch;
    out_buf out[2]; /* stdout, stderr */
} ssh_run;

/* ---- the frame ---- */

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n > PAYLOAD_MAX)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static int buf_str(buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

/* 'value' with each ' as '\'' : one word for any shell. */
static int add_quoted(buf *b, const char *v)
{
    int rc = buf_str(b, "'");
    for (const char *q; rc == 0 && (q = strchr(v, '\'')); v = q + 1)
        rc = buf_add(b, v, (size_t)(q - v)) || buf_str(b, "'\\''");
    return rc || buf_str(b, v) || buf_str(b, "'");
}

static int env_name_ok(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return 0;
    return strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(k);
}

/* A string param without NUL (the remote shell could not hold it); "" when absent. */
static const char *text_param(const json_t *v, const char *what, rb_act_result *res)
{
    if (!v)
        return "";
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v))
        rb_act_fail(res, RB_OUT_FAILED, "refused", "%s must be text without NUL bytes", what);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static int add_env(buf *b, const json_t *env, rb_act_result *res)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)env, k, v) {
        const char *val = text_param(v, "an env value", res);
        if (!val)
            return -1;
        if (!env_name_ok(k))
            return rb_act_fail(res, RB_OUT_FAILED, "refused", "env name \"%.64s\" is not a shell name", k), -1;
        if (buf_str(b, "export ") || buf_str(b, k) || buf_str(b, "=") || add_quoted(b, val) ||
            buf_str(b, "\n"))
            return rb_act_fail(res, RB_OUT_FAILED, "refused", "the env is too large"), -1;
    }
    return 0;
}

/* The stdin frame of the wrapper (see above), malloc'd into *out. */
static int build_frame(const rb_act_call *c, buf *out, rb_act_result *res)
{
    buf script = {0};
    const char *cmd = text_param(json_object_get(c->params, "command"), "command", res);
    const char *in = text_param(json_object_get(c->params, "stdin"), "stdin", res);
    int rc = cmd && in ? add_env(&script, json_object_get(c->params, "env"), res) : -1;
    if (rc == 0 && (buf_str(&script, cmd) || buf_str(&script, "\n"))) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "the command is too large");
        rc = -1;
    }
    char head[64];
    snprintf(head, sizeof head, "%zu\n%zu\n", script.len, strlen(in));
    if (rc == 0 && (buf_str(out, head) || buf_add(out, script.data, script.len) || buf_str(out, in))) {
        rb_act_fail(res, RB_OUT_FAILED, "refused", "stdin is too large");
        rc = -1;
    }
    free(script.data);
    return rc;
}

/* ---- the channel ---- */

static void keep(ssh_run *r, int stream, const char *data, size_t n)
{
    out_buf *o = &r->out[stream];
    if (r->c->on_output)
        r->c->on_output(r->c->out_ctx, stream + 1, data, n);
    size_t room = OUT_MAX - o->len, take = n < room ? n : room;
    if (take && !o->data)
        o->data = malloc(OUT_MAX);
    if (take && o->data) {
        memcpy(o->data + o->len, data, take);
        o->len += take;
    }
    o->dropped += n - (o->data ? take : 0);
}

static int open_channel(ssh_run *r)
{
    RB_SSH_AGAIN_PTR(r->s, r->c, r->res, r->ch, libssh2_channel_open_session(r->s->session));
    if (!r->ch && !rb_ssh_stopped(r->res))
        rb_ssh_fail(r->s, r->res, "connect", "cannot open a channel to");
    return r->ch ? 0 : -1;
}

static int start_command(ssh_run *r, const buf *frame)
{
    int rc;
    RB_SSH_AGAIN(r->s, r->c, r->res, rc,
                 libssh2_channel_process_startup(r->ch, "exec", 4, wrapper, sizeof wrapper - 1));
    if (rc != 0)
        return rb_ssh_stopped(r->res) ? -1 : (rb_ssh_fail(r->s, r->res, "io", "exec refused by"), -1);
    for (size_t off = 0; off < frame->len;) {
        ssize_t n;
        RB_SSH_AGAIN(r->s, r->c, r->res, n, libssh2_channel_write(r->ch, frame->data + off, frame->len - off));
        if (n < 0)
            return rb_ssh_stopped(r->res) ? -1 : (rb_ssh_fail(r->s, r->res, "io", "cannot send to"), -1);
        off += (size_t)n;
    }
    return 0;
}

/* Reads stdout and stderr until the remote end sends EOF. */
static int pump(ssh_run *r)
{
    char chunk[READ_CHUNK];
    for (;;) {
        int got = 0;
        for (int st = 0; st < 2; st++) {
            ssize_t n = libssh2_channel_read_ex(r->ch, st ? SSH_EXTENDED_DATA_STDERR : 0, chunk, sizeof chunk);
            if (n > 0)
                keep(r, st, chunk, (size_t)n), got = 1;
            else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
                return rb_ssh_fail(r->s, r->res, "io", "cannot read from"), -1;
        }
        if (got)
            continue;
        if (libssh2_channel_eof(r->ch))
            return 0;
        if (rb_ssh_wait(r->s, r->c, r->res) != 0)
            return -1;
    }
}

/* Closes the channel and reads how the command ended: exit code, or -1 after a signal. */
static int finish(ssh_run *r, long long *code, char *sig, size_t siglen)
{
    int rc;
    RB_SSH_AGAIN(r->s, r->c, r->res, rc, libssh2_channel_close(r->ch));
    if (rc == 0)
        RB_SSH_AGAIN(r->s, r->c, r->res, rc, libssh2_channel_wait_closed(r->ch));
    if (rc != 0)
        return rb_ssh_stopped(r->res) ? -1 : (rb_ssh_fail(r->s, r->res, "io", "cannot close a channel to"), -1);
    char *name = NULL;
    size_t len = 0;
    libssh2_channel_get_exit_signal(r->ch, &name, &len, NULL, NULL, NULL, NULL);
    snprintf(sig, siglen, "%.*s", name ? (int)(len < 32 ? len : 32) : 0, name ? name : "");
    if (name)
        libssh2_free(r->s->session, name);
    *code = *sig ? -1 : libssh2_channel_get_exit_status(r->ch);
    RB_SSH_AGAIN(r->s, r->c, r->res, rc, libssh2_channel_free(r->ch));
    r->ch = rc == 0 ? NULL : r->ch; /* else freed with the session */
    return 0;
}

/* ---- results ---- */

static json_t *output_text(const out_buf *o, const char *name)
{
    if (!o->dropped)
        return rb_json_string_lossy(o->data ? o->data : "", o->len);
    buf b = {0};
    char note[96];
    snprintf(note, sizeof note, "\n[runbook: %zu more bytes of %s dropped]\n", o->dropped, name);
    buf_add(&b, o->data ? o->data : "", o->len);
    buf_str(&b, note);
    json_t *j = rb_json_string_lossy(b.data ? b.data : "", b.len);
    free(b.data);
    return j;
}

static void set_outputs(ssh_run *r, long long code)
{
    json_decref(r->res->outputs);
    r->res->outputs = json_object();
    json_object_set_new(r->res->outputs, "exit_code", json_integer(code));
    json_object_set_new(r->res->outputs, "stdout", output_text(&r->out[0], "stdout"));
    json_object_set_new(r->res->outputs, "stderr", output_text(&r->out[1], "stderr"));
}

/* Runs the command on a channel of r->s: 0 done (res outcome set), -1 failed (res). */
static int run_on_session(ssh_run *r, const buf *frame)
{
    long long code = -1;
    char sig[40] = "";
    if (start_command(r, frame) != 0 || pump(r) != 0 || finish(r, &code, sig, sizeof sig) != 0)
        return -1;
    set_outputs(r, code);
    if (*sig)
        rb_act_fail(r->res, RB_OUT_FAILED, "signal", "the remote command was killed by SIG%s", sig);
    else
        r->res->outcome = RB_OUT_SUCCEEDED;
    return 0;
}

/* A session with an open channel; a reused session that turned out broken is reopened once. */
static int session_and_channel(ssh_run *r)
{
    int reused;
    r->s = rb_ssh_acquire(r->c, r->res, &reused);
    if (!r->s)
        return -1;
    if (open_channel(r) == 0)
        return 0;
    if (!reused || rb_ssh_stopped(r->res))
        return -1;
    rb_ssh_release(r->c, r->s, 1);
    r->s = rb_ssh_acquire(r->c, r->res, &reused);
    return r->s ? open_channel(r) : -1;
}

/* After a timeout or cancel: EOF makes the remote watcher end the command at once (if the
 * packet still goes out); dropping the session ends it in any case. */
static void abandon(ssh_run *r)
{
    if (r->ch)
        libssh2_channel_send_eof(r->ch);
    set_outputs(r, -1);
}

static int run_ssh(const rb_act_call *c, rb_act_result *res)
{
    ssh_run r = {.c = c, .res = res};
    buf frame = {0};
    int rc = build_frame(c, &frame, res);
    if (rc == 0 && (rc = session_and_channel(&r)) == 0)
        rc = run_on_session(&r, &frame);
    int drop = rc != 0 && r.s;
    if (drop && rb_ssh_stopped(res))
        abandon(&r);
    if (r.s && r.ch && !drop)
        libssh2_channel_free(r.ch); /* non-blocking: a pending close goes with the session */
    rb_ssh_release(c, r.s, drop);
    free(frame.data);
    free(r.out[0].data);
    free(r.out[1].data);
    return rc;
}

static void judge_ssh(const json_t *expect, rb_act_result *res)
{
    rb_act_judge_code_and_text(expect, res, "exit_code", 0, "exit code", "stdout");
}

static void disconnect_ssh(void *conn) { rb_ssh_close(conn, 1000); }

static int init_ssh(char *err, size_t errlen)
{
    if (libssh2_init(0) == 0)
        return 0;
    snprintf(err, errlen, "libssh2_init failed");
    return -1;
}

static void cleanup_ssh(void) { libssh2_exit(); }

/* "would run on db1: RB_V1='x' systemctl restart app": the script's values as on its host. */
static void preview_ssh(const rb_act_call *c, rb_act_preview *p)
{
    json_t *cmd = json_object_get(c->params, "command"), *in = json_object_get(c->params, "stdin");
    rb_act_say(p, "would run on %s: ", c->target_name ? c->target_name : "?");
    rb_act_say_script_vars(p, json_object_get(c->params, "env"));
    rb_act_say_n(p, json_string_value(cmd) ? json_string_value(cmd) : "", json_string_length(cmd));
    if (json_is_string(in))
        rb_act_say(p, " (%zu bytes on stdin)", json_string_length(in));
    rb_act_say_n(p, "\n", 1);
}

const rb_action_ops rb_ssh_ops = {
    .global_init = init_ssh,
    .global_cleanup = cleanup_ssh,
    .run = run_ssh,
    .judge = judge_ssh,
    .disconnect = disconnect_ssh,
    .preview = preview_ssh,
};
