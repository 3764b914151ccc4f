/* The model: every field read from a full runbook (header, inputs, secrets, targets, steps with
 * their blocks, defaults, captures, retry), the effect and policy defaults, and the structural
 * errors with their line:col. Runbooks are built in memory with rb_load_buffer + rb_model_build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/model.h"
#include "runbook/node.h"

/* A test of a known bug: skipped so the suite stays green, run with RUNBOOK_KNOWN_BUGS=1. */
#define KNOWN_BUG()                          \
    do {                                     \
        if (!getenv("RUNBOOK_KNOWN_BUGS"))   \
            skip();                          \
    } while (0)

/* ---- helpers ---- */

static rb_runbook *build(const char *name, const char *yaml, rb_diags *d)
{
    rb_diags_init(d);
    rb_doc *doc = rb_load_buffer(name, yaml, strlen(yaml), d);
    if (!doc) {
        rb_diags_print_text(d, stderr, 0);
        fail_msg("%s did not load", name);
    }
    rb_runbook *rb = rb_model_build(doc, d);
    assert_non_null(rb);
    return rb;
}

static void dump(const rb_diags *d)
{
    fprintf(stderr, "--- diagnostics (%zu) ---\n", d->count);
    rb_diags_print_text(d, stderr, 0);
}

/* Builds `yaml`, which must have no structural error. */
static rb_runbook *build_ok(const char *yaml, rb_diags *d)
{
    rb_runbook *rb = build("t.yaml", yaml, d);
    if (rb->errors || d->count) {
        dump(d);
        fail_msg("expected no diagnostics");
    }
    return rb;
}

/* An expected error: "LINE:COL:text" where text must be part of the message (or the hint when
 * it starts with "hint:"). */
static int matches(const rb_diag *g, const char *spec)
{
    unsigned line, col;
    int used = 0;
    if (sscanf(spec, "%u:%u:%n", &line, &col, &used) != 2 || !used)
        fail_msg("bad spec %s", spec);
    const char *text = spec + used;
    if (g->line != line || g->col != col)
        return 0;
    if (!strncmp(text, "hint:", 5))
        return g->hint && strstr(g->hint, text + 5);
    return strstr(g->message, text) != NULL;
}

/* Builds `yaml` and checks that its errors are exactly those of `specs` (NULL-terminated), in
 * any order, each matched by a different diagnostic. Also checks rb->errors. */
static void expect_errors(const char *yaml, const char *const *specs)
{
    rb_diags d;
    rb_runbook *rb = build("t.yaml", yaml, &d);
    size_t n = 0;
    while (specs[n])
        n++;
    char used[64] = {0};
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        int hint = strstr(specs[i], ":hint:") != NULL;
        for (size_t k = 0; k < d.count && !found; k++)
            if ((hint || !used[k]) && matches(&d.items[k], specs[i])) {
                found = 1;
                if (!hint)
                    used[k] = 1;
            }
        if (!found) {
            dump(&d);
            fail_msg("no diagnostic matches \"%s\"", specs[i]);
        }
    }
    size_t want = 0;
    for (size_t i = 0; i < n; i++)
        want += strstr(specs[i], ":hint:") == NULL;
    if (d.errors != want || rb->errors != want) {
        dump(&d);
        fail_msg("expected %zu errors, got %zu (rb->errors %zu)", want, d.errors, rb->errors);
    }
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

#define HEAD "runbook: t\nversion: 1\ntitle: T\n"

/* ---- a full runbook ---- */

static const char full_yaml[] =
    "runbook: full\n"                                                                       /* 1 */
    "version: 1\n"                                                                          /* 2 */
    "title: Full runbook\n"                                                                 /* 3 */
    "description: Everything at once\n"                                                     /* 4 */
    "severity: critical\n"                                                                  /* 5 */
    "objectives: { rto: 15m, rpo: 30s }\n"                                                  /* 6 */
    "tags: [db, failover]\n"                                                                /* 7 */
    "lock: db-cluster\n"                                                                    /* 8 */
    "on_failure: rollback\n"                                                                /* 9 */
    "deadline: 1h30m\n"                                                                     /* 10 */
    "inputs:\n"                                                                             /* 11 */
    "  host: { description: The host, default: db1, pattern: \"[a-z0-9]+\" }\n"             /* 12 */
    "  replicas: { type: int, min: 1, max: 5, default: 3 }\n"                               /* 13 */
    "  force: { type: bool, default: false }\n"                                             /* 14 */
    "  api: { type: url }\n"                                                                /* 15 */
    "  mode: { type: enum, values: [fast, safe], default: safe }\n"                         /* 16 */
    "  wait: { type: duration, min: 1s, max: 10m, default: 90s }\n"                         /* 17 */
    "secrets:\n"                                                                            /* 18 */
    "  token: { env: API_TOKEN, description: API token }\n"                                 /* 19 */
    "  key: { file: ~/.ssh/key }\n"                                                         /* 20 */
    "targets:\n"                                                                            /* 21 */
    "  db: { postgres: { host: db.example.com, port: 5432, dbname: app, user: ops,"
    " sslmode: verify-full, connect_timeout: 5s } }\n"                                      /* 22 */
    "  box: { ssh: { host: box.example.com, user: ops, port: 2222 } }\n"                    /* 23 */
    "  api: { http: { base_url: \"https://api.example.com\","
    " headers: { X-Token: \"${{ secrets.token }}\" }, timeout: 30s } }\n"                   /* 24 */
    "defaults:\n"                                                                           /* 25 */
    "  timeout: 2m\n"                                                                       /* 26 */
    "  retry: { attempts: 2, delay: 5s }\n"                                                 /* 27 */
    "steps:\n"                                                                              /* 28 */
    "  - id: check\n"                                                                       /* 29 */
    "    title: Health\n"
    "    description: Is it up\n"
    "    http: { url: \"https://example.com/health\" }\n"
    "    capture:\n"
    "      version: \"re:version (\\\\S+)\"\n"
    "      state: \"json:/state\"\n"
    "  - id: post\n"
    "    http: { target: api, path: /promote, method: POST, json: { force: \"${{ inputs.force }}\" } }\n"
    "    needs: [check]\n"
    "    when: \"inputs.mode == 'fast'\"\n"
    "    preconditions:\n"
    "      - { assert: \"steps.check.status == 200\", message: healthy first }\n"
    "      - { assert: \"true\" }\n"
    "    confirm: Promote now?\n"
    "    irreversible: true\n"
    "    destructive: true\n"
    "    idempotent: true\n"
    "    timeout: 45s\n"
    "    retry: { attempts: \"${{ inputs.replicas }}\", delay: \"${{ inputs.wait }}\", backoff: 2.5,"
    " max_delay: 1m, jitter: 250ms, until: \"steps.post.status == 200\","
    " on_errors: [5xx, 503, timeout, connect, \"40001\", \"08*\"] }\n"
    "    on_failure: continue\n"
    "    expect: { status: [200, 201] }\n"
    "  - id: nap\n"
    "    sleep: 10s\n"
    "  - id: sure\n"
    "    assert: [\"inputs.replicas > 0\", \"true\"]\n"
    "  - id: run\n"
    "    exec: [pg_ctl, promote]\n"
    "    timeout: \"${{ inputs.wait }}\"\n"
    "    rollback:\n"
    "      title: Demote\n"
    "      exec: { argv: [pg_ctl, demote], env: { A: b }, cwd: /tmp, stdin: x }\n"
    "      timeout: 1m\n"
    "      expect: { exit_code: [0, 1] }\n"
    "      capture: { out: \"re:(.*)\" }\n"
    "    verify:\n"
    "      sql: { target: db, query: \"SELECT pg_is_in_recovery()\" }\n"
    "      expect: { value: \"f\" }\n"
    "    dry_run: { exit_code: 0, stdout: ok }\n"
    "    capture:\n"
    "      pw: { from: \"re:password=(\\\\S+)\", secret: true }\n"
    "      plain: { from: \"json:/a\" }\n"
    "  - id: manual\n"
    "    confirm: Flip the switch by hand\n"
    "  - id: q\n"
    "    sql: { target: db, query: \"SELECT 1\", params: [\"${{ inputs.host }}\"] }\n"
    "    effect: write\n"
    "    capture: { x: \"column:x\" }\n"
    "  - id: q2\n"
    "    sql: { target: db, query: \"UPDATE t SET a = 1\" }\n"
    "  - id: remote\n"
    "    ssh: { target: box, command: uptime }\n"
    "    effect: read\n"
    "  - id: remote2\n"
    "    ssh: { target: box, command: reboot }\n"
    "  - id: f\n"
    "    file: { path: /tmp/x, content: hello, mode: \"0600\" }\n"
    "  - id: head\n"
    "    http: { url: \"https://example.com\", method: HEAD }\n"
    "  - id: get\n"
    "    http: { url: \"https://example.com\", method: GET }\n"
    "  - id: put\n"
    "    http: { url: \"https://example.com\", method: PUT, body: x }\n"
    "  - id: call\n"
    "    runbook: { name: other, inputs: { a: b } }\n"
    "  - id: sh\n"
    "    shell: \"echo hi\"\n"
    "  - id: sh2\n"
    "    shell: { script: \"echo hi\", env: { X: y } }\n"
    "    on_failure: abort\n";

static const rb_step *step(const rb_runbook *rb, const char *id)
{
    const rb_step *s = rb_runbook_step(rb, id);
    if (!s)
        fail_msg("no step %s", id);
    return s;
}

static const char *param(const rb_step *s, const char *key)
{
    const rb_node *n = rb_action_param(&s->main.action, key);
    return n && n->kind == RB_NODE_SCALAR ? n->str : NULL;
}

static void full_header(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    assert_string_equal(rb->path, "t.yaml");
    assert_string_equal(rb->name, "full");
    assert_int_equal(rb->name_node->line, 1);
    assert_int_equal(rb->name_node->col, 10);
    assert_string_equal(rb->title, "Full runbook");
    assert_string_equal(rb->description, "Everything at once");
    assert_int_equal(rb->severity, RB_SEVERITY_CRITICAL);
    assert_string_equal(rb_severity_name(rb->severity), "critical");
    assert_int_equal(rb->rto_ms, 15 * 60 * 1000);
    assert_int_equal(rb->rpo_ms, 30 * 1000);
    assert_int_equal(rb->deadline_ms, 90 * 60 * 1000);
    assert_non_null(rb->tags);
    assert_int_equal(rb->tags->count, 2);
    assert_string_equal(rb->tags->items[1]->str, "failover");
    assert_string_equal(rb->lock, "db-cluster");
    assert_int_equal(rb->on_failure, RB_POLICY_ROLLBACK);
    assert_int_equal(rb->default_timeout_ms, 120000);
    assert_non_null(rb->default_retry.node);
    assert_int_equal(rb->default_retry.attempts, 2);
    assert_int_equal(rb->default_retry.delay_ms, 5000);
    assert_int_equal(rb->default_retry.max_delay_ms, RB_NO_DURATION);
    assert_true(rb->default_retry.backoff == 1.0);
    assert_int_equal(rb->nsteps, 17);
    assert_int_equal(rb->errors, 0);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_inputs(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    assert_int_equal(rb->ninputs, 6);
    const rb_input *host = rb_runbook_input(rb, "host");
    assert_non_null(host);
    assert_int_equal(host->type, RB_IN_STRING); /* the default type */
    assert_string_equal(host->description, "The host");
    assert_string_equal(host->def->str, "db1");
    assert_string_equal(host->pattern->str, "[a-z0-9]+");
    assert_false(host->has_min || host->has_max);
    assert_null(host->values);
    assert_int_equal(host->node->line, 12);
    assert_int_equal(host->node->col, 3);

    const rb_input *rep = rb_runbook_input(rb, "replicas");
    assert_int_equal(rep->type, RB_IN_INT);
    assert_true(rep->has_min && rep->has_max);
    assert_int_equal(rep->min, 1);
    assert_int_equal(rep->max, 5);
    assert_string_equal(rep->def->str, "3");

    const rb_input *force = rb_runbook_input(rb, "force");
    assert_int_equal(force->type, RB_IN_BOOL);
    assert_string_equal(force->def->str, "false");

    const rb_input *api = rb_runbook_input(rb, "api");
    assert_int_equal(api->type, RB_IN_URL);
    assert_null(api->def); /* required */
    assert_null(api->description);

    const rb_input *mode = rb_runbook_input(rb, "mode");
    assert_int_equal(mode->type, RB_IN_ENUM);
    assert_int_equal(mode->values->count, 2);
    assert_string_equal(mode->values->items[0]->str, "fast");

    const rb_input *wait = rb_runbook_input(rb, "wait");
    assert_int_equal(wait->type, RB_IN_DURATION);
    assert_int_equal(wait->min, 1000);
    assert_int_equal(wait->max, 600000);
    assert_true(wait->has_min && wait->has_max);
    assert_string_equal(rb_input_type_name(wait->type), "duration");

    assert_null(rb_runbook_input(rb, "nope"));
    /* inputs keep their file order */
    assert_string_equal(rb->inputs[0].name, "host");
    assert_string_equal(rb->inputs[5].name, "wait");
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_secrets_and_targets(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    assert_int_equal(rb->nsecrets, 2);
    const rb_secret *tok = rb_runbook_secret(rb, "token");
    assert_string_equal(tok->env, "API_TOKEN");
    assert_null(tok->file);
    assert_string_equal(tok->description, "API token");
    const rb_secret *key = rb_runbook_secret(rb, "key");
    assert_null(key->env);
    assert_string_equal(key->file, "~/.ssh/key");
    assert_null(rb_runbook_secret(rb, "nope"));

    assert_int_equal(rb->ntargets, 3);
    const rb_target *db = rb_runbook_target(rb, "db"), *box = rb_runbook_target(rb, "box"),
                    *api = rb_runbook_target(rb, "api");
    assert_int_equal(db->kind, RB_TARGET_POSTGRES);
    assert_int_equal(box->kind, RB_TARGET_SSH);
    assert_int_equal(api->kind, RB_TARGET_HTTP);
    assert_string_equal(rb_target_kind_name(db->kind), "postgres");
    assert_string_equal(rb_target_kind_name(box->kind), "ssh");
    assert_string_equal(rb_target_kind_name(api->kind), "http");
    assert_string_equal(rb_map_get(db->params, "dbname")->str, "app");
    assert_string_equal(rb_map_get(box->params, "port")->str, "2222");
    assert_string_equal(rb_map_get(api->params, "base_url")->str, "https://api.example.com");
    assert_int_equal(rb_map_get(api->params, "headers")->kind, RB_NODE_MAP);
    assert_null(rb_runbook_target(rb, "nope"));
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_steps_basic_fields(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    for (size_t i = 0; i < rb->nsteps; i++)
        assert_int_equal(rb->steps[i].index, i);

    const rb_step *check = step(rb, "check");
    assert_int_equal(check->index, 0);
    assert_int_equal(check->id_node->line, 29);
    assert_int_equal(check->id_node->col, 9);
    assert_string_equal(check->title, "Health");
    assert_string_equal(check->description, "Is it up");
    assert_string_equal(check->main.action.type->name, "http");
    assert_string_equal(check->main.action.key->str, "http");
    assert_null(check->needs_node);
    assert_null(check->when);
    assert_null(check->confirm);
    assert_int_equal(check->npreconditions, 0);
    assert_int_equal(check->on_failure, RB_POLICY_ROLLBACK); /* the runbook's on_failure */
    assert_int_equal(check->main.timeout_ms, RB_NO_DURATION); /* own; defaults stay in rb */
    assert_null(check->retry.node);
    assert_int_equal(check->retry.attempts, 1);
    assert_null(check->rollback);
    assert_null(check->verify);
    assert_null(check->dry_run);
    assert_false(check->irreversible || check->destructive || check->idempotent);

    const rb_step *post = step(rb, "post");
    assert_string_equal(param(post, "target"), "api");
    assert_string_equal(param(post, "path"), "/promote");
    assert_string_equal(param(post, "method"), "POST");
    assert_int_equal(rb_action_param(&post->main.action, "json")->kind, RB_NODE_MAP);
    assert_null(rb_action_param(&post->main.action, "url"));
    assert_null(rb_action_param(&post->main.action, "no-such-param"));
    assert_int_equal(post->needs_node->count, 1);
    assert_string_equal(post->needs_node->items[0]->str, "check");
    assert_string_equal(post->when->str, "inputs.mode == 'fast'");
    assert_int_equal(post->npreconditions, 2);
    assert_string_equal(post->preconditions[0].expr->str, "steps.check.status == 200");
    assert_string_equal(post->preconditions[0].message, "healthy first");
    assert_string_equal(post->preconditions[1].expr->str, "true");
    assert_null(post->preconditions[1].message);
    assert_string_equal(post->confirm, "Promote now?");
    assert_non_null(post->confirm_node);
    assert_true(post->irreversible);
    assert_true(post->destructive);
    assert_true(post->idempotent);
    assert_non_null(post->destructive_node);
    assert_non_null(post->irreversible_node);
    assert_int_equal(post->main.timeout_ms, 45000);
    assert_int_equal(post->on_failure, RB_POLICY_CONTINUE);
    assert_non_null(post->on_failure_node);
    assert_int_equal(post->main.expect->kind, RB_NODE_MAP);

    const rb_step *sh2 = step(rb, "sh2");
    assert_int_equal(sh2->on_failure, RB_POLICY_ABORT);
    assert_string_equal(param(sh2, "script"), "echo hi");
    assert_int_equal(rb_action_param(&sh2->main.action, "env")->kind, RB_NODE_MAP);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_retry_fields(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    const rb_retry *r = &step(rb, "post")->retry;
    assert_non_null(r->node);
    assert_int_equal(r->attempts, RB_DYNAMIC);
    assert_non_null(r->attempts_node);
    assert_int_equal(r->delay_ms, RB_DYNAMIC);
    assert_true(r->backoff == 2.5);
    assert_int_equal(r->max_delay_ms, 60000);
    assert_int_equal(r->jitter_ms, 250);
    assert_string_equal(r->until->str, "steps.post.status == 200");
    assert_int_equal(r->on_errors->count, 6);
    /* a template timeout is dynamic too */
    assert_int_equal(step(rb, "run")->main.timeout_ms, RB_DYNAMIC);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_effects(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    struct {
        const char *id;
        int writes;
    } want[] = {
        {"check", 0},   /* http without method: GET, a read */
        {"post", 1},    /* http POST */
        {"nap", 0},     /* sleep */
        {"sure", 0},    /* assert */
        {"run", 1},     /* exec */
        {"q", 1},       /* effect: write said */
        {"q2", 1},      /* sql defaults to write */
        {"remote", 0},  /* effect: read said */
        {"remote2", 1}, /* ssh defaults to write */
        {"f", 1},       /* file */
        {"head", 0},    /* http HEAD */
        {"get", 0},     /* http GET said */
        {"put", 1},     /* http PUT */
        {"call", 1},    /* runbook */
        {"sh", 1},      /* shell */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const rb_step *s = step(rb, want[i].id);
        if (s->writes != want[i].writes)
            fail_msg("step %s: writes %d, want %d", want[i].id, s->writes, want[i].writes);
    }
    assert_non_null(step(rb, "q")->effect_node);
    assert_null(step(rb, "q2")->effect_node);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_shorthands_and_actions(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    const rb_step *nap = step(rb, "nap");
    assert_string_equal(nap->main.action.type->name, "sleep");
    assert_string_equal(param(nap, "duration"), "10s");
    const rb_step *sure = step(rb, "sure");
    const rb_node *that = rb_action_param(&sure->main.action, "that");
    assert_int_equal(that->kind, RB_NODE_SEQ);
    assert_int_equal(that->count, 2);
    const rb_step *run = step(rb, "run");
    const rb_node *argv = rb_action_param(&run->main.action, "argv");
    assert_int_equal(argv->kind, RB_NODE_SEQ);
    assert_string_equal(argv->items[1]->str, "promote");
    assert_ptr_equal(run->main.action.value, argv);
    const rb_step *sh = step(rb, "sh");
    assert_string_equal(param(sh, "script"), "echo hi");
    const rb_step *manual = step(rb, "manual");
    assert_null(manual->main.action.type);
    assert_null(rb_action_param(&manual->main.action, "argv"));
    assert_string_equal(manual->confirm, "Flip the switch by hand");
    const rb_step *f = step(rb, "f");
    assert_string_equal(param(f, "mode"), "0600");
    assert_string_equal(param(f, "content"), "hello");
    const rb_step *call = step(rb, "call");
    assert_string_equal(param(call, "name"), "other");
    assert_int_equal(rb_action_param(&call->main.action, "inputs")->count, 1);
    const rb_step *q = step(rb, "q");
    assert_int_equal(rb_action_param(&q->main.action, "params")->count, 1);
    assert_string_equal(param(q, "query"), "SELECT 1");
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void full_blocks_and_captures(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(full_yaml, &d);
    const rb_step *check = step(rb, "check");
    assert_int_equal(check->main.ncaptures, 2);
    assert_string_equal(check->main.captures[0].name, "version");
    assert_int_equal(check->main.captures[0].kind, RB_CAP_RE);
    assert_string_equal(check->main.captures[0].arg, "version (\\S+)");
    assert_int_equal(check->main.captures[0].arg_offset, 3);
    assert_false(check->main.captures[0].secret);
    assert_int_equal(check->main.captures[1].kind, RB_CAP_JSON);
    assert_string_equal(check->main.captures[1].arg, "/state");
    assert_int_equal(check->main.captures[1].arg_offset, 5);

    const rb_step *run = step(rb, "run");
    assert_int_equal(run->main.ncaptures, 2);
    assert_string_equal(run->main.captures[0].name, "pw");
    assert_int_equal(run->main.captures[0].kind, RB_CAP_RE);
    assert_string_equal(run->main.captures[0].arg, "password=(\\S+)");
    assert_true(run->main.captures[0].secret);
    assert_int_equal(run->main.captures[1].kind, RB_CAP_JSON);
    assert_false(run->main.captures[1].secret);

    const rb_step *q = step(rb, "q");
    assert_int_equal(q->main.ncaptures, 1);
    assert_int_equal(q->main.captures[0].kind, RB_CAP_COLUMN);
    assert_string_equal(q->main.captures[0].arg, "x");
    assert_int_equal(q->main.captures[0].arg_offset, 7);

    assert_non_null(run->rollback);
    assert_string_equal(run->rollback->action.type->name, "exec");
    assert_int_equal(run->rollback->timeout_ms, 60000);
    assert_non_null(run->rollback->timeout_node);
    assert_non_null(run->rollback->expect);
    assert_int_equal(run->rollback->ncaptures, 1);
    assert_string_equal(run->rollback->captures[0].name, "out");
    const rb_node *argv = rb_action_param(&run->rollback->action, "argv");
    assert_string_equal(argv->items[1]->str, "demote");
    assert_string_equal(rb_action_param(&run->rollback->action, "cwd")->str, "/tmp");

    assert_non_null(run->verify);
    assert_string_equal(run->verify->action.type->name, "sql");
    assert_int_equal(run->verify->timeout_ms, RB_NO_DURATION);
    assert_int_equal(run->verify->ncaptures, 0);
    assert_string_equal(rb_map_get(run->verify->expect, "value")->str, "f");

    assert_non_null(run->dry_run);
    assert_int_equal(run->dry_run->count, 2);
    assert_string_equal(rb_map_get(run->dry_run, "stdout")->str, "ok");
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

/* ---- defaults ---- */

static void minimal_defaults(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(HEAD "steps:\n  - id: a\n    exec: [true]\n", &d);
    assert_int_equal(rb->severity, RB_SEVERITY_HIGH);
    assert_null(rb->lock);
    assert_null(rb->description);
    assert_null(rb->tags);
    assert_int_equal(rb->rto_ms, RB_NO_DURATION);
    assert_int_equal(rb->rpo_ms, RB_NO_DURATION);
    assert_int_equal(rb->deadline_ms, RB_NO_DURATION);
    assert_int_equal(rb->default_timeout_ms, RB_NO_DURATION);
    assert_null(rb->default_retry.node);
    assert_int_equal(rb->on_failure, RB_POLICY_UNSET);
    assert_int_equal(rb->steps[0].on_failure, RB_POLICY_UNSET);
    assert_string_equal(rb_policy_name(rb->steps[0].on_failure), "abort"); /* unset reads abort */
    assert_int_equal(rb->ninputs + rb->nsecrets + rb->ntargets, 0);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void on_failure_from_defaults(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(HEAD "defaults: { on_failure: continue }\n"
                                   "steps:\n  - id: a\n    exec: [true]\n"
                                   "  - id: b\n    exec: [true]\n    on_failure: rollback\n",
                              &d);
    assert_int_equal(rb->on_failure, RB_POLICY_CONTINUE);
    assert_int_equal(rb->steps[0].on_failure, RB_POLICY_CONTINUE);
    assert_int_equal(rb->steps[1].on_failure, RB_POLICY_ROLLBACK);
    assert_string_equal(rb_policy_name(RB_POLICY_ROLLBACK), "rollback");
    assert_string_equal(rb_policy_name(RB_POLICY_CONTINUE), "continue");
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void bad_defaults_on_failure_is_reported(void **state)
{
    (void)state;
    /* BUG: build_defaults() in src/model/model.c reads defaults.on_failure only when the top
     * level has no on_failure, so with both present a wrong defaults.on_failure is never
     * checked. Reproduction:
     *   runbook: t / version: 1 / title: T / on_failure: abort
     *   defaults: { on_failure: bogus }
     *   steps: [{ id: a, exec: [true] }]
     * validates with no error; without the top-level on_failure it is
     * "on_failure must be one of: abort, rollback, continue" at 5:25. */
    static const char *const want[] = {"5:25:on_failure must be one of", NULL};
    expect_errors(HEAD "on_failure: abort\n"
                       "defaults: { on_failure: bogus }\n"
                       "steps:\n  - id: a\n    exec: [true]\n",
                  want);
}

static void template_durations_and_ints_are_dynamic(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = build_ok(HEAD "inputs: { t: { type: duration, default: 5s }, n: { type: int, default: 2 } }\n"
                                   "steps:\n"
                                   "  - id: a\n"
                                   "    exec: [true]\n"
                                   "    timeout: \"${{ inputs.t }}\"\n"
                                   "    retry: { attempts: \"${{ inputs.n }}\", jitter: \"${{ inputs.t }}\","
                                   " max_delay: \"${{ inputs.t }}\" }\n",
                              &d);
    const rb_step *s = &rb->steps[0];
    assert_int_equal(s->main.timeout_ms, RB_DYNAMIC);
    assert_int_equal(s->retry.attempts, RB_DYNAMIC);
    assert_int_equal(s->retry.jitter_ms, RB_DYNAMIC);
    assert_int_equal(s->retry.max_delay_ms, RB_DYNAMIC);
    assert_int_equal(s->retry.delay_ms, RB_NO_DURATION);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
    /* Text (even a space) around the ${{ }} makes it a string: no duration and no int. */
    static const char *const want[] = {
        "8:14:timeout \"x${{ inputs.t }}\" is not a duration",
        "9:24:attempts must be an integer",
        "9:55:max_delay \" ${{ inputs.t }}\" is not a duration",
        NULL};
    expect_errors(HEAD "inputs: { t: { type: duration, default: 5s } }\n"
                       "steps:\n"
                       "  - id: a\n"
                       "    exec: [true]\n"
                       "    timeout: \"x${{ inputs.t }}\"\n"
                       "    retry: { attempts: \"${{ inputs.t }}0\", max_delay: \" ${{ inputs.t }}\" }\n",
                  want);
}

/* ---- structural errors, located ---- */

static void header_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "2:10:unsupported language version",
        "3:1:unknown key \"titel\" in a runbook",
        "3:1:hint:did you mean \"title\"?",
        "1:1:missing required key \"title\"",
        "4:11:severity must be one of: info, low, high, critical",
        "4:11:hint:did you mean \"critical\"?",
        "5:11:deadline needs a unit",
        "5:11:hint:write \"30s\" for seconds",
        "6:7:lock \"Big Lock\" is not a valid name",
        "7:13:on_failure must be one of",
        "8:20:objectives.rpo \"soon\" is not a duration",
        "8:26:unknown key \"rtx\" in objectives",
        "9:7:tags must be a list, not a mapping",
        "1:1:missing required key \"steps\"",
        NULL};
    expect_errors("runbook: t\n"
                  "version: 2\n"
                  "titel: T\n"
                  "severity: critcal\n"
                  "deadline: 30\n"
                  "lock: Big Lock\n"
                  "on_failure: retry\n"
                  "objectives: { rpo: soon, rtx: 1m }\n"
                  "tags: { a: b }\n",
                  want);
}

static void name_and_step_list_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "1:10:runbook name \"Fail_Over\" is not a valid name",
        "1:10:hint:use lower-case letters",
        "4:8:a runbook needs at least one step",
        NULL};
    expect_errors("runbook: Fail_Over\nversion: 1\ntitle: T\nsteps: []\n", want);
    static const char *const want2[] = {"4:8:steps must be a list, not a mapping", NULL};
    expect_errors(HEAD "steps: { a: b }\n", want2);
}

static void ids_and_action_suggestions(void **state)
{
    (void)state;
    /* ids: at most 64 characters of [a-z0-9_-], starting with a letter or digit */
    char yaml[512];
    snprintf(yaml, sizeof yaml, HEAD "steps:\n  - id: %s\n    exec: [x]\n  - id: %s\n    exec: [x]\n"
                                     "  - id: 0-a_b\n    exec: [x]\n  - id: -a\n    exec: [x]\n",
             "a234567890123456789012345678901234567890123456789012345678901234",   /* 64 */
             "a2345678901234567890123456789012345678901234567890123456789012345"); /* 65 */
    static const char *const want[] = {
        "7:9:\" is not a valid name", /* the 65-character one (quoted up to 64) */
        "11:9:step id \"-a\" is not a valid name",
        NULL};
    expect_errors(yaml, want);
    /* a misspelt action key is suggested from the action names */
    static const char *const want2[] = {
        "6:5:unknown key \"exce\" in a step",
        "6:5:hint:did you mean \"exec\"?",
        "5:5:a step needs an action",
        NULL};
    expect_errors(HEAD "steps:\n  - id: a\n    exce: [x]\n", want2);
}

static void input_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "6:14:input type must be one of: string, int, bool, url, enum, duration",
        "7:3:an enum input needs \"values\"",
        "8:30:values apply to enum inputs only",
        "9:25:min and max apply to int and duration inputs only",
        "10:28:pattern applies to string inputs only",
        "11:29:min/max needs a unit",
        "11:29:hint:write \"5s\" for seconds",
        "12:24:min/max must be an integer",
        "13:8:unknown key \"defualt\" in an input",
        "13:8:hint:did you mean \"default\"?",
        "14:3:input name \"Bad\" is not a valid name",
        "15:6:an input must be a mapping, not a single value",
        "16:31:default must be a single value, not a list",
        NULL};
    expect_errors(HEAD "inputs:\n"
                       "  ok: { type: string }\n"
                       "  a: { type: integer }\n"
                       "  b: { type: enum }\n"
                       "  c: { type: string, values: [x] }\n"
                       "  d: { type: bool, min: 1 }\n"
                       "  e: { type: int, pattern: x }\n"
                       "  f: { type: duration, min: 5 }\n"
                       "  g: { type: int, min: 1s }\n"
                       "  h: { defualt: 1 }\n"
                       "  Bad: { type: string }\n"
                       "  k: string\n"
                       "  l: { type: string, default: [a] }\n"
                       "steps:\n  - id: a\n    exec: [true]\n",
                  want);
}

static void negative_two_is_not_a_template(void **state)
{
    (void)state;
    /* BUG: RB_DYNAMIC is -2, and b_int() returns -2 for both a ${{ }} template and the literal
     * integer -2, so callers that test `v != RB_DYNAMIC` treat a literal -2 as "known at run
     * time" and skip their checks. Reproductions (src/model/model.c input_bound,
     * src/model/step.c b_retry, src/model/targets.c check_port):
     *   inputs: { n: { type: int, min: -2, default: -7 } }  -> min is dropped (has_min 0) and
     *                                                          the default -7 passes the check
     *   retry: { attempts: -2 }                             -> no "attempts must be from 1 to 10000"
     *   targets: { s: { ssh: { host: h, user: u, port: -2 } } } -> no "port must be between ..."
     * With -3 instead of -2 every one of them is reported. */
    rb_diags d;
    rb_runbook *rb = build("t.yaml", HEAD "inputs: { n: { type: int, min: -2, max: -1 } }\n"
                                          "steps:\n  - id: a\n    exec: [true]\n", &d);
    assert_true(rb->inputs[0].has_min);
    assert_int_equal(rb->inputs[0].min, -2);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
    static const char *const want[] = {
        "4:48:port must be between 1 and 65535",
        "8:24:attempts must be from 1 to 10000",
        NULL};
    expect_errors(HEAD "targets: { s: { ssh: { host: h, user: u, port: -2 } } }\n"
                       "steps:\n"
                       "  - id: a\n"
                       "    exec: [true]\n"
                       "    retry: { attempts: -2 }\n",
                  want);
}

static void negative_three_is_checked(void **state)
{
    (void)state;
    /* The compliant neighbour of the bug above: any other negative value is checked. */
    rb_diags d;
    rb_runbook *rb = build("t.yaml", HEAD "inputs: { n: { type: int, min: -3, max: -1 } }\n"
                                          "steps:\n  - id: a\n    exec: [true]\n", &d);
    assert_true(rb->inputs[0].has_min);
    assert_int_equal(rb->inputs[0].min, -3);
    assert_int_equal(rb->inputs[0].max, -1);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
    static const char *const want[] = {
        "4:48:port must be between 1 and 65535",
        "8:24:attempts must be from 1 to 10000",
        NULL};
    expect_errors(HEAD "targets: { s: { ssh: { host: h, user: u, port: -3 } } }\n"
                       "steps:\n"
                       "  - id: a\n"
                       "    exec: [true]\n"
                       "    retry: { attempts: -3 }\n",
                  want);
}

static void secret_and_target_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "6:25:a secret comes from \"env\" or \"file\", not both",
        "7:3:a secret needs \"env\" (a variable name) or \"file\" (a path)",
        "8:11:unknown key \"enb\" in a secret",
        "8:11:hint:did you mean \"env\"?",
        "8:3:a secret needs \"env\"",
        "10:43:a target has one kind: postgres, ssh or http",
        "11:3:a target needs one of: postgres, ssh, http",
        "12:3:ssh target needs \"user\"",
        "13:40:port must be between 1 and 65535",
        "14:3:http target needs \"base_url\"",
        "14:27:insecure must be true or false",
        "15:3:a postgres target needs \"host\" (or \"url\")",
        "15:30:sslmode must be one of: disable, allow, prefer, require, verify-ca, verify-full",
        "16:26:give either \"url\" or host/dbname/user, not both",
        "17:25:unknown key \"hots\" in an ssh target",
        "17:25:hint:did you mean \"host\"?",
        "17:3:ssh target needs \"host\"",
        "18:47:connect_timeout needs a unit",
        NULL};
    expect_errors(HEAD "secrets:\n"
                       "  ok: { env: X }\n"
                       "  both: { env: A, file: /b }\n"
                       "  none: { description: x }\n"
                       "  typo: { enb: X }\n"
                       "targets:\n"
                       "  two: { ssh: { host: h, user: u }, http: { base_url: x } }\n"
                       "  zero: { description: x }\n"
                       "  s1: { ssh: { host: h } }\n"
                       "  s2: { ssh: { host: h, user: u, port: 70000 } }\n"
                       "  h1: { http: { insecure: maybe } }\n"
                       "  p1: { postgres: { sslmode: strict } }\n"
                       "  p2: { postgres: { url: x, host: h } }\n"
                       "  s3: { ssh: { user: u, hots: h } }\n"
                       "  p3: { postgres: { host: h, connect_timeout: 5 } }\n"
                       "steps:\n  - id: a\n    exec: [true]\n",
                  want);
}

static void step_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "7:5:unknown key \"neds\" in a step",
        "7:5:hint:did you mean \"needs\"?",
        "8:9:step id \"Bad Id\" is not a valid name",
        "10:5:a step takes one action; found both \"exec\" and \"shell\"",
        "10:5:hint:split it into two steps",
        "11:5:a step needs an \"id\"",
        "13:13:effect must be one of: read, write",
        "14:19:irreversible must be true or false",
        "14:19:hint:write it without quotes",
        "16:14:timeout needs a unit",
        "18:5:a step needs an action (exec, shell, http, sql, ssh, sleep, assert, file, runbook) or \"confirm\"",
        "20:12:needs must be a list, not a single value",
        "22:11:when must be a single value, not a list",
        "23:17:on_failure must be one of: abort, rollback, continue",
        "24:5:a step must be a mapping, not a single value",
        NULL};
    expect_errors(HEAD "steps:\n"
                       "  - id: a\n"
                       "    exec: [true]\n"
                       "    neds: [x]\n"
                       "  - id: Bad Id\n"
                       "    exec: [true]\n"
                       "    shell: \"echo\"\n"
                       "  - title: no id\n"
                       "    exec: [true]\n"
                       "    effect: maybe\n"
                       "    irreversible: \"true\"\n"
                       "  - id: c\n"
                       "    timeout: 30\n"
                       "    exec: [true]\n"
                       "  - id: d\n"
                       "  - id: e\n"
                       "    needs: a\n"
                       "    exec: [true]\n"
                       "    when: [x]\n"
                       "    on_failure: ignore\n"
                       "  - just a string\n",
                  want);
}

static void action_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "6:11:argv needs at least the program to run",
        "8:13:assert needs at least one expression",
        "10:29:http takes \"url\" or \"target\" (with \"path\"), not both",
        "12:5:http needs \"url\" or \"target\"",
        "12:19:\"path\" is relative to a target's base_url: add \"target\"",
        "14:43:http takes a \"json\" or a \"body\", not both",
        "16:29:method must be one of: GET, HEAD, POST, PUT, PATCH, DELETE",
        "18:41:mode must be an octal string such as \"0600\"",
        "20:5:file needs \"content\"",
        "22:14:unknown key \"scrpit\" in shell (a step)",
        "22:14:hint:did you mean \"script\"?",
        "22:5:shell needs \"script\"",
        "24:12:sleep takes a short form or a mapping of its parameters",
        "26:10:sql takes a mapping of its parameters",
        "28:39:follow_redirects must be true or false",
        "30:12:each item must be a single value, not a list",
        NULL};
    expect_errors(HEAD "steps:\n"
                       "  - id: a\n"
                       "    exec: []\n"
                       "  - id: b\n"
                       "    assert: []\n"
                       "  - id: c\n"
                       "    http: { url: x, target: t }\n"
                       "  - id: d\n"
                       "    http: { path: /x }\n"
                       "  - id: e\n"
                       "    http: { url: x, json: { a: 1 }, body: y }\n"
                       "  - id: f\n"
                       "    http: { url: x, method: FETCH }\n"
                       "  - id: g\n"
                       "    file: { path: /x, content: y, mode: \"0999\" }\n"
                       "  - id: h\n"
                       "    file: { path: /x }\n"
                       "  - id: i\n"
                       "    shell: { scrpit: x }\n"
                       "  - id: j\n"
                       "    sleep: [1s]\n"
                       "  - id: k\n"
                       "    sql: \"SELECT 1\"\n"
                       "  - id: l\n"
                       "    http: { url: x, follow_redirects: sometimes }\n"
                       "  - id: m\n"
                       "    exec: [[a]]\n",
                  want);
}

static void block_expect_capture_retry_errors(void **state)
{
    (void)state;
    static const char *const want[] = {
        "7:15:expect.status does not apply to an exec action",
        "9:7:capture \"stdout\" hides the step's own output of that name",
        "10:10:a capture starts with re:, json: or column:",
        "11:10:a capture needs \"from\"",
        "12:36:secret must be true or false",
        "15:7:rollback takes one action; found both \"exec\" and \"shell\"",
        "17:7:unknown key \"needs\" in verify",
        "17:7:verify needs an action (exec, shell, http, sql, ssh, ...)",
        "21:24:attempts must be from 1 to 10000",
        "21:36:backoff must be a number from 1 to 100",
        "21:63:unknown error class \"server\"",
        "21:48:delay needs a unit",
        "24:15:expect needs an action to check",
        "27:30:exit_code must be an integer",
        "30:26:row_count must be an integer",
        NULL};
    expect_errors(HEAD "steps:\n"
                       "  - id: a\n"
                       "    exec: [true]\n"
                       "    expect: { status: 200 }\n"
                       "    capture:\n"
                       "      stdout: \"re:(x)\"\n"
                       "      v: \"regex:(x)\"\n"
                       "      w: { secret: true }\n"
                       "      z: { from: \"re:(x)\", secret: yes }\n"
                       "    rollback:\n"
                       "      exec: [a]\n"
                       "      shell: b\n"
                       "    verify:\n"
                       "      needs: [a]\n"
                       "      title: nothing to do\n"
                       "  - id: b\n"
                       "    exec: [true]\n"
                       "    retry: { attempts: 0, backoff: 0.5, delay: 5, on_errors: [server, 5xx, \"08*\"] }\n"
                       "  - id: c\n"
                       "    confirm: ok\n"
                       "    expect: { exit_code: 0 }\n"
                       "  - id: d\n"
                       "    exec: [true]\n"
                       "    expect: { exit_code: [0, x] }\n"
                       "  - id: e\n"
                       "    sql: { target: db, query: x }\n"
                       "    expect: { row_count: many }\n",
                  want);
}

static void non_scalar_method_is_an_error(void **state)
{
    (void)state;
    /* BUG: default_writes() in src/model/step.c calls strcmp(m->str, "GET") on the `method`
     * node without checking it is a scalar; a list or map has str == NULL and the model build
     * crashes (SEGV in strcmp). Reproduction:
     *   runbook: t / version: 1 / title: T
     *   steps: [{ id: a, http: { url: "http://x", method: [GET] } }]
     * `runbook validate` on that file crashes instead of reporting
     * "method must be a single value, not a list". (Found by reading; the fuzzer finds it too.) */
    static const char *const want[] = {"6:38:method must be a single value, not a list", NULL};
    expect_errors(HEAD "steps:\n"
                       "  - id: a\n"
                       "    http: { url: \"http://x\", method: [GET] }\n",
                  want);
}

static void model_messages_stay_utf8(void **state)
{
    (void)state;
    /* BUG: messages quote user text with byte precisions ("%.40s" in b_duration and
     * retry_on_errors, "%.64s" in b_id, src/model/scalar.c and step.c), which can cut a
     * multi-byte character in half; the diagnostic is then invalid UTF-8 and
     * `validate --format json` cannot encode it. Reproduction:
     *   timeout: "aéééééééééééééééééééééééé"   (a + 25 × é)
     *   -> message `timeout "aééééééééééééééééééé\xc3" is not a duration`. */
    rb_diags d;
    rb_runbook *rb = build("t.yaml", HEAD "steps:\n  - id: a\n    exec: [true]\n"
                                          "    timeout: \"a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                          "\xc3\xa9\xc3\xa9\xc3\xa9\"\n",
                           &d);
    assert_int_equal(d.count, 1); /* the one duration error */
    assert_int_equal(rb->errors, 1);
    const char *m = d.items[0].message;
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p == 0xC3)
            assert_int_equal(p[1], 0xA9); /* no lone lead byte */
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

/* ---- helpers from the public header ---- */

static rb_node scalar(const char *s, rb_scalar_style style)
{
    rb_node n = {.kind = RB_NODE_SCALAR, .style = style, .str = s, .len = strlen(s)};
    return n;
}

static void scalar_helpers(void **state)
{
    (void)state;
    int b = -1;
    long long v = 0;
    rb_node n = scalar("true", RB_STYLE_PLAIN);
    assert_int_equal(rb_scalar_bool(&n, &b), 0);
    assert_int_equal(b, 1);
    n = scalar("False", RB_STYLE_PLAIN);
    assert_int_equal(rb_scalar_bool(&n, &b), 0);
    assert_int_equal(b, 0);
    n = scalar("true", RB_STYLE_DOUBLE); /* quoted: a string */
    assert_int_equal(rb_scalar_bool(&n, &b), -1);
    n = scalar("yes", RB_STYLE_PLAIN);
    assert_int_equal(rb_scalar_bool(&n, &b), -1);
    assert_int_equal(rb_scalar_bool(NULL, &b), -1);

    n = scalar("-42", RB_STYLE_PLAIN);
    assert_int_equal(rb_scalar_int(&n, &v), 0);
    assert_int_equal(v, -42);
    n = scalar("+7", RB_STYLE_PLAIN);
    assert_int_equal(rb_scalar_int(&n, &v), 0);
    assert_int_equal(v, 7);
    const char *bad[] = {"", "-", "1.5", "0x10", "12a", " 1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = scalar(bad[i], RB_STYLE_PLAIN);
        if (rb_scalar_int(&n, &v) != -1)
            fail_msg("\"%s\" read as an int", bad[i]);
    }
    n = scalar("5", RB_STYLE_SINGLE);
    assert_int_equal(rb_scalar_int(&n, &v), -1);

    n = scalar("a ${{ x }}", RB_STYLE_PLAIN);
    assert_true(rb_scalar_has_template(&n));
    n = scalar("a ${ x }", RB_STYLE_PLAIN);
    assert_false(rb_scalar_has_template(&n));
    assert_false(rb_scalar_has_template(NULL));
}

static void suggestions(void **state)
{
    (void)state;
    static const char *const keys[] = {"needs", "timeout", "title", "retry", NULL};
    assert_string_equal(rb_suggest("neds", keys), "needs");
    assert_string_equal(rb_suggest("timout", keys), "timeout");
    assert_string_equal(rb_suggest("titel", keys), "title");
    assert_null(rb_suggest("zzzzzz", keys));
    assert_null(rb_suggest("x", keys));
    assert_null(rb_suggest("needs", NULL));
    static const char *const none[] = {NULL};
    assert_null(rb_suggest("a", none));
}

static void action_registry(void **state)
{
    (void)state;
    const char *names[] = {"exec", "shell", "http", "sql", "ssh", "sleep", "assert", "file", "runbook", "dns"};
    size_t n = 0;
    while (rb_action_types[n])
        n++;
    assert_int_equal(n, 10);
    for (size_t i = 0; i < 10; i++) {
        const rb_action_type *t = rb_action_type_find(names[i]);
        assert_non_null(t);
        assert_string_equal(t->name, names[i]);
        assert_true(t->nparams <= RB_MAX_PARAMS);
        assert_non_null(t->outputs);
    }
    assert_null(rb_action_type_find("curl"));
    const rb_action_type *http = rb_action_type_find("http");
    assert_int_equal(rb_action_param_index(http, "url"), 0);
    assert_true(rb_action_param_index(http, "method") > 0);
    assert_int_equal(rb_action_param_index(http, "argv"), -1);
    assert_string_equal(http->target_kind, "http");
    assert_true(http->network);
    assert_false(rb_action_type_find("exec")->network);
    assert_string_equal(rb_action_type_find("sql")->target_kind, "postgres");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_header),
        cmocka_unit_test(full_inputs),
        cmocka_unit_test(full_secrets_and_targets),
        cmocka_unit_test(full_steps_basic_fields),
        cmocka_unit_test(full_retry_fields),
        cmocka_unit_test(full_effects),
        cmocka_unit_test(full_shorthands_and_actions),
        cmocka_unit_test(full_blocks_and_captures),
        cmocka_unit_test(minimal_defaults),
        cmocka_unit_test(on_failure_from_defaults),
        cmocka_unit_test(bad_defaults_on_failure_is_reported),
        cmocka_unit_test(template_durations_and_ints_are_dynamic),
        cmocka_unit_test(header_errors),
        cmocka_unit_test(name_and_step_list_errors),
        cmocka_unit_test(ids_and_action_suggestions),
        cmocka_unit_test(input_errors),
        cmocka_unit_test(negative_two_is_not_a_template),
        cmocka_unit_test(negative_three_is_checked),
        cmocka_unit_test(secret_and_target_errors),
        cmocka_unit_test(step_errors),
        cmocka_unit_test(action_errors),
        cmocka_unit_test(block_expect_capture_retry_errors),
        cmocka_unit_test(model_messages_stay_utf8),
        cmocka_unit_test(scalar_helpers),
        cmocka_unit_test(suggestions),
        cmocka_unit_test(action_registry),
        cmocka_unit_test(non_scalar_method_is_an_error), /* last: with the bug it crashes */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
