/* The action interface: what one action type does, as a const table of operations, and the
 * narrow context the executor hands it for one call. An action is one file in src/actions plus
 * one entry in the model's registry (src/model/actions.c); it never sees the run, the journal's
 * files, YAML nodes or the executor's headers. Everything it needs arrives rendered. */
#ifndef RUNBOOK_ACTION_H
#define RUNBOOK_ACTION_H

#include <jansson.h>
#include <stddef.h>

#include "runbook/outcome.h"
#include "runbook/proc.h"

#define RB_ACT_MESSAGE_MAX 256
#define RB_ACT_ERRCLASS_MAX 32

/* What an action reports. The executor owns `outputs` after the call. */
typedef struct rb_act_result {
    rb_outcome outcome;   /* succeeded when the action itself completed: expect is judged later */
    json_t *outputs;      /* object of output fields (new reference), or NULL */
    char errclass[RB_ACT_ERRCLASS_MAX]; /* for retry.on_errors: "timeout", "connect", "cancelled",
                                           "tls", "hostkey", "auth", an exit code, an HTTP status,
                                           a SQLSTATE, "io", "refused" (never retried) */
    char message[RB_ACT_MESSAGE_MAX];   /* why it failed; never holds a secret on purpose (the
                                           executor masks it anyway) */
} rb_act_result;

/* One call of an action. Valid only during the call; the action keeps no pointer into it. */
typedef struct rb_act_call {
    const json_t *params;    /* the rendered parameters, by the names of the type's table: strings,
                                lists, maps; `json` bodies keep their types; durations in ms */
    const json_t *target;    /* the rendered target's map (postgres/ssh/http keys), or NULL;
                                secrets in it (password, auth) are rendered in clear: never copy
                                them into outputs or messages */
    const char *target_name; /* its name, for messages, or NULL */
    long long deadline_ms;   /* absolute, on rb_act_now_ms()'s clock; 0: no deadline */
    const rb_proc_cancel_token *cancel; /* for rb_proc_run; may be NULL */
    int cancel_fd;           /* readable once the run is cancelled (poll() it); -1: none */
    int rollback;            /* 1 when running as a rollback or an undo */
    int dry_run;             /* the run is a dry run (only read steps are called) */

    /* Environment variables a child must not inherit (NULL-terminated, or NULL): those the
     * runbook's secrets are read from. A child gets one only through its step's own `env:`. */
    const char *const *unset_env;

    /* Live output (exec, shell, ssh): chunks split anywhere; the executor masks and shows it. */
    void (*on_output)(void *ctx, int stream, const char *bytes, size_t len);
    void *out_ctx;

    /* A local child process started (exec, shell): its process group's id, told right after
     * the start. The executor journals the group, so that a resume after a kill -9 finds what
     * outlived the run. May be NULL. */
    void (*on_spawn)(void *ctx, pid_t pgid);
    void *spawn_ctx;

    /* Side data kept durably with the step's journal (0600), for an undo or a resume: what a
     * file looked like before. read: 0 found (malloc'd *data), 1 absent, -1 error. */
    int (*side_write)(void *ctx, const char *name, const char *data, size_t len);
    int (*side_read)(void *ctx, const char *name, char **data, size_t *len);
    void *side_ctx;

    /* Evaluates an expression in the run's scope (assert): 1 true, 0 false, -1 undecided (a dry
     * run lacks a value), -2 error with a message in err. */
    int (*condition)(void *ctx, const char *expr, size_t len, char *err, size_t errlen);
    void *cond_ctx;

    /* The connection to `target` for this run: NULL on the first use; the action stores what it
     * opened here, and the executor gives it back on later calls for the same target and closes
     * it with ops->disconnect at the end of the run. The executor lets one call at a time use a
     * slot. NULL when the action has no target. */
    void **conn;
} rb_act_call;

/* A dry run's account of what a write step would do: lines of text, at most `cap` bytes (more
 * is cut and marked). The executor masks it before anyone sees it. */
typedef struct rb_act_preview {
    char *text;       /* NUL-terminated; the executor owns it */
    size_t len, cap;
    int cut;          /* something did not fit */
    /* Masks text the action read itself (a file's current content) before it is cut into lines
     * or quoted, which would split a secret where masking no longer finds it: a new string
     * (caller frees), NULL when out of memory. The parameters arrive masked already. */
    char *(*mask)(void *ctx, const char *s, size_t len, size_t *out_len);
    void *mask_ctx;
} rb_act_preview;

/* Appends printf-style text (src/actions/preview.c). */
void rb_act_say(rb_act_preview *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rb_act_say_n(rb_act_preview *p, const char *s, size_t n);
/* Appends one word as /bin/sh would read it back: bare when it needs no quoting, else in '...'. */
void rb_act_say_word(rb_act_preview *p, const char *s, size_t n);
/* Appends "NAME='value' " for each of the script's own ${{ }} variables (RB_V1...) in env, so a
 * shell or ssh line can be pasted and runs with the same values. */
void rb_act_say_script_vars(rb_act_preview *p, const json_t *env);
/* Appends a unified diff of old -> new (lines), headed by "--- label (before)" and
 * "+++ label (after)", at most max_lines lines; "(no change)" when equal. Both are masked with
 * p->mask first (when set). Large inputs are compared by size only. */
void rb_act_say_diff(rb_act_preview *p, const char *old, size_t olen, const char *new_, size_t nlen,
                     const char *label, size_t max_lines);

/* The operations of one action type. Any slot but `run` may be NULL. */
typedef struct rb_action_ops {
    /* Once per process, before any thread starts (curl_global_init); 0 ok, -1 with a message. */
    int (*global_init)(char *err, size_t errlen);
    /* Once, at exit, after every run ended. */
    void (*global_cleanup)(void);
    /* Does the work. Returns 0 when the action ran (outcome says how it went), -1 when it failed
     * before acting; either way `res` is filled. Must return by the deadline and soon after the
     * cancel fd becomes readable. */
    int (*run)(const rb_act_call *c, rb_act_result *res);
    /* Undoes a completed `run` by itself, for a step without a rollback: block (file). */
    int (*undo)(const rb_act_call *c, rb_act_result *res);
    /* Judges a succeeded action against its step's `expect:` map, rendered to JSON (NULL when
     * absent: the action's own default rule). Turns res into a failure when it does not hold. */
    void (*judge)(const json_t *expect, rb_act_result *res);
    /* Closes what run stored in *conn. */
    void (*disconnect)(void *conn);
    /* A dry run of a write step: says what `run` would do ("would run: ..."), never doing it;
     * it may read (a file's current content, for a diff), and gets no connection. NULL: the
     * executor shows the rendered parameters. */
    void (*preview)(const rb_act_call *c, rb_act_preview *p);

    /* sql_literal()/sql_ident() on the step's own connection (sql). The executor, holding the
     * target's slot with the run unlocked, calls `open` before it renders parameters that quote;
     * `open` makes *c->conn a usable connection (reusing a live one), bounded by the deadline
     * and the cancel fd: 0, or -1 with res failed as `run` would fail it. Then, while rendering,
     * `escape` quotes s (len bytes, no NUL) as a literal (ident 0) or an identifier (ident 1)
     * for that connection (its encoding and standard_conforming_strings): a malloc'd string,
     * or NULL when the value cannot be quoted. It does no network I/O. Without these slots,
     * or where no connection exists (validate, plan, a dry run's preview), the expression
     * language quotes without a connection. */
    int (*open)(const rb_act_call *c, rb_act_result *res);
    char *(*escape)(void *conn, const char *s, size_t len, int ident);
} rb_action_ops;

/* The addresses of host (a name or a literal address) for a TCP connection to port, looked up
 * with c-ares within the call's deadline and cancel: 0 with *out (free with
 * ares_freeaddrinfo), or -1 with res failed (timeout, cancelled, connect). */
struct ares_addrinfo;
int rb_act_resolve(const rb_act_call *c, const char *host, const char *port, struct ares_addrinfo **out,
                   rb_act_result *res);

/* Monotonic milliseconds: the clock of deadline_ms. */
long long rb_act_now_ms(void);
/* Milliseconds left before the call's deadline (at least 1 while any is left), 0 when it has
 * passed, -1 when the call has none. */
long long rb_act_remaining_ms(const rb_act_call *c);
/* 1 once the run was cancelled. */
int rb_act_cancelled(const rb_act_call *c);
/* Fills a failure: outcome, error class and a printf-style message. */
void rb_act_fail(rb_act_result *res, rb_outcome o, const char *errclass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Helpers for judge slots shared by several actions (src/actions/common.c). */
/* expect: a code (exit_code, status) as an int, a list of ints, or a class "2xx"; when absent,
 * got must be 0 (default_class 0) or in class default_class. */
int rb_act_code_allowed(const json_t *want, long long got, int default_class);
/* A code then a regex over one text output: the shape exec/shell/ssh and http share. 0 when
 * both hold; else res fails with the code as error class, or "expect". */
int rb_act_judge_code_and_text(const json_t *expect, rb_act_result *res, const char *code_key,
                               int default_class, const char *code_name, const char *text_key);
/* The text form of a JSON value, for comparing with an expected scalar (malloc'd). */
char *rb_act_text_of(const json_t *v);
/* RFC 6901: the value at `ptr` in `root` (borrowed), or NULL. */
json_t *rb_json_pointer_get(const json_t *root, const char *ptr);

/* The operations of every action type; the model's registry (src/model/actions.c) points each
 * type at its own. */
extern const rb_action_ops rb_exec_ops, rb_shell_ops, rb_http_ops, rb_sql_ops, rb_ssh_ops,
    rb_sleep_ops, rb_assert_ops, rb_file_ops, rb_runbook_ops, rb_dns_ops;

/* Runs every type's global_init once (idempotent, not thread-safe: call before threads). */
int rb_actions_global_init(char *err, size_t errlen);
void rb_actions_global_cleanup(void);

#endif
