/* The checker end to end through rb_check: name resolution, the ancestor rule, self references,
 * SQL templates, regexes and captures, calls between runbooks through an rb_catalog over a temp
 * dir, every DR lint rule firing and not firing on its compliant variant, and rb_input_check for
 * every input type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runbook/check.h"
#include "runbook/graph.h"
#include "runbook/model.h"
#include "runbook/node.h"

/* A test of a known bug: skipped so the suite stays green, run with RUNBOOK_KNOWN_BUGS=1. */
#define KNOWN_BUG()                          \
    do {                                     \
        if (!getenv("RUNBOOK_KNOWN_BUGS"))   \
            skip();                          \
    } while (0)

/* ---- helpers ---- */

typedef struct run {
    rb_diags d;
    rb_runbook *rb;
    rb_graph g;
} run;

static void dump(const rb_diags *d)
{
    fprintf(stderr, "--- diagnostics (%zu) ---\n", d->count);
    rb_diags_print_text(d, stderr, 0);
}

/* Loads, builds, graphs and checks `yaml`; structural errors are allowed (collected in r->d). */
static void check_lenient(run *r, const char *yaml)
{
    rb_diags_init(&r->d);
    rb_doc *doc = rb_load_buffer("t.yaml", yaml, strlen(yaml), &r->d);
    assert_non_null(doc);
    r->rb = rb_model_build(doc, &r->d);
    assert_non_null(r->rb);
    rb_graph_build(r->rb, &r->g, &r->d);
    rb_check(r->rb, &r->g, NULL, &r->d);
}

/* Loads, builds, graphs and checks `yaml` as file `name`; structural errors are not expected. */
static void check_named(run *r, const char *name, const char *yaml, rb_catalog *cat)
{
    rb_diags_init(&r->d);
    rb_doc *doc = rb_load_buffer(name, yaml, strlen(yaml), &r->d);
    if (!doc) {
        dump(&r->d);
        fail_msg("did not load");
    }
    r->rb = rb_model_build(doc, &r->d);
    assert_non_null(r->rb);
    if (r->rb->errors) {
        dump(&r->d);
        fail_msg("unexpected structural errors");
    }
    rb_graph_build(r->rb, &r->g, &r->d);
    rb_check(r->rb, &r->g, cat, &r->d);
}

static void check_yaml(run *r, const char *yaml) { check_named(r, "t.yaml", yaml, NULL); }

static void done(run *r)
{
    rb_graph_cleanup(&r->g);
    rb_runbook_free(r->rb);
    rb_diags_cleanup(&r->d);
}

/* Specs: "E:LINE:COL:text" an error, "W:RULE:LINE:COL:text" a warning of that rule,
 * "H:LINE:COL:text" a hint of a diagnostic there (not counted). */
static int spec_matches(const rb_diag *g, const char *spec)
{
    char kind = spec[0], rule[40] = "";
    const char *p = spec + 2;
    if (kind == 'W') {
        size_t len = strcspn(p, ":");
        assert_true(len < sizeof rule);
        memcpy(rule, p, len);
        rule[len] = '\0';
        p += len + 1;
    }
    unsigned line, col;
    int used = 0;
    if (sscanf(p, "%u:%u:%n", &line, &col, &used) != 2 || !used)
        fail_msg("bad spec %s", spec);
    const char *text = p + used;
    if (g->line != line || g->col != col)
        return 0;
    if (kind == 'H')
        return g->hint && strstr(g->hint, text);
    if (kind == 'E' && g->sev != RB_SEV_ERROR)
        return 0;
    if (kind == 'W' && (g->sev != RB_SEV_WARNING || !g->rule || strcmp(g->rule, rule)))
        return 0;
    return strstr(g->message, text) != NULL;
}

/* Every spec is matched by its own diagnostic, and there are no other errors or warnings. */
static void expect_exactly(const rb_diags *d, const char *const *specs)
{
    char used[RB_DIAG_MAX] = {0};
    size_t errors = 0, warnings = 0;
    for (size_t i = 0; specs[i]; i++) {
        int hint = specs[i][0] == 'H', found = 0;
        errors += specs[i][0] == 'E';
        warnings += specs[i][0] == 'W';
        for (size_t k = 0; k < d->count && !found; k++)
            if ((hint || !used[k]) && spec_matches(&d->items[k], specs[i])) {
                found = 1;
                if (!hint)
                    used[k] = 1;
            }
        if (!found) {
            dump(d);
            fail_msg("no diagnostic matches \"%s\"", specs[i]);
        }
    }
    if (d->errors != errors || d->warnings != warnings) {
        dump(d);
        fail_msg("expected %zu errors and %zu warnings, got %zu and %zu", errors, warnings, d->errors,
                 d->warnings);
    }
}

static void expect_yaml(const char *yaml, const char *const *specs)
{
    run r;
    check_yaml(&r, yaml);
    expect_exactly(&r.d, specs);
    done(&r);
}

static size_t count_rule(const rb_diags *d, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < d->count; i++)
        n += d->items[i].rule && !strcmp(d->items[i].rule, rule);
    return n;
}

/* `yaml` draws exactly `n` warnings of `rule` and no error. */
static void rule_fires(const char *yaml, const char *rule, size_t n)
{
    run r;
    check_yaml(&r, yaml);
    if (count_rule(&r.d, rule) != n || r.d.errors) {
        dump(&r.d);
        fail_msg("expected %zu [%s] and no error", n, rule);
    }
    done(&r);
}

#define HEAD "runbook: t\nversion: 1\ntitle: T\n"

/* ---- names ---- */

static void valid_runbook_is_clean(void **state)
{
    (void)state;
    static const char *const none[] = {NULL};
    expect_yaml(HEAD "inputs: { host: { default: db1 } }\n"
                     "secrets: { tok: { env: TOK } }\n"
                     "targets: { api: { http: { base_url: \"https://${{ inputs.host }}\","
                     " headers: { Authorization: \"Bearer ${{ secrets.tok }}\" }, timeout: 10s } } }\n"
                     "objectives: { rto: 5m }\n"
                     "steps:\n"
                     "  - id: a\n"
                     "    http: { target: api, path: /x }\n"
                     "    capture: { v: \"re:v(\\\\d+)\" }\n"
                     "  - id: b\n"
                     "    exec: [echo, \"${{ steps.a.v }} ${{ steps.a.status }} ${{ steps.a.outcome }}\","
                     " \"${{ env.HOME }} ${{ run.id }} ${{ run.dry_run }} ${{ runbook.name }}\","
                     " \"${{ runbook.objectives.rto }}\"]\n"
                     "    effect: read\n"
                     "    when: \"steps.a.json.ok == true && len(steps.a.body) > 0\"\n",
                none);
}

static void unknown_references(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:9:23:unknown input \"hots\"",
        "H:9:23:did you mean \"host\"?",
        "E:9:45:unknown secret \"nope\"",
        "H:9:45:declare it under secrets:",
        "W:secret-in-argv:9:40:a secret in an argv",
        "E:12:23:step \"first\" has no output \"stdot\"",
        "H:12:23:did you mean \"stdout\"?",
        "E:12:51:unknown step \"missing\"",
        "E:12:82:unknown name \"bogus\"",
        "H:12:82:names start with inputs., secrets., steps., env., run., runbook. or each.",
        "E:13:17:\"inputs\" needs a name after it (inputs.NAME)",
        "E:13:31:unknown name \"run.idd\"",
        "H:13:31:did you mean \"id\"?",
        "E:13:46:use runbook.objectives.rto or runbook.objectives.rpo",
        "E:13:76:name a field of step \"first\" (steps.first.FIELD)",
        "E:13:95:unknown name \"runbook.nam\"",
        "H:13:95:did you mean \"name\"?",
        NULL};
    expect_yaml(HEAD "inputs:\n"
                     "  host: { default: db }\n"
                     "secrets: { tok: { env: T } }\n"
                     "steps:\n"
                     "  - id: first\n"
                     "    exec: [echo, \"${{ inputs.hots }}\", \"${{ secrets.nope }}\"]\n"
                     "    effect: read\n"
                     "  - id: second\n"
                     "    exec: [echo, \"${{ steps.first.stdot }}\", \"${{ steps.missing.stdout }}\", \"${{ bogus.x }}\"]\n"
                     "    title: \"${{ inputs }} ${{ run.idd }} ${{ runbook.objectives.rtt }} ${{ steps.first }}"
                     " ${{ runbook.nam }}\"\n"
                     "    effect: read\n",
                want);
}

static void expression_errors_are_located(void **state)
{
    (void)state;
    /* Parse errors point into the scalar: the offset of the problem, mapped to line:col. */
    static const char *const want[] = {
        "E:6:17:expected a value, found end of expression", /* "1 == ": at the end */
        "E:7:22:unterminated ${{",                          /* at the "${{" */
        "E:8:17:unknown function 'nope'",                    /* at the name */
        "E:9:43:invalid regex: missing closing parenthesis", /* where PCRE2 stopped */
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: a\n"
                     "    when: \"1 == \"\n"
                     "    exec: [echo, \"ok ${{ 1 +\"]\n"
                     "    title: \"${{ nope(1) }}\"\n"
                     "    preconditions: [{ assert: \"'a' =~ 'a(b'\" }]\n"
                     "    effect: read\n",
                want);
}

static void ancestor_rule(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:10:23:step \"a\" is not guaranteed to have finished before \"b\"",
        "H:10:23:add \"a\" to this step's needs",
        "H:13:70:add \"d\" to this step's needs",
        "E:13:70:step \"d\" is not guaranteed to have finished before \"c\"",
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: a\n"
                     "    exec: [echo, a]\n"
                     "    effect: read\n"
                     "  - id: b\n"
                     "    needs: []\n"
                     "    exec: [echo, \"${{ steps.a.stdout }}\"]\n" /* a may still run */
                     "    effect: read\n"
                     "  - id: c\n"
                     "    exec: [echo, \"${{ steps.a.stdout }} ${{ steps.b.stdout }}\","
                     " \"${{ steps.d.stdout }}\"]\n" /* a, b above: fine; d below: not */
                     "    effect: read\n"
                     "  - id: d\n"
                     "    exec: [echo, \"${{ steps.a.stdout }}\"]\n"
                     "    effect: read\n",
                want);
}

static void self_references(void **state)
{
    (void)state;
    /* Allowed in rollback, verify and retry.until; refused everywhere else. */
    static const char *const want[] = {
        "E:6:23:a step cannot read its own outputs here", /* its own action */
        "H:6:23:only its rollback, verify and retry.until may",
        "E:7:17:a step cannot read its own outputs here",  /* title */
        "E:8:12:a step cannot read its own outputs here",  /* when */
        "E:9:19:a step cannot read its own outputs here",  /* confirm */
        "E:10:32:a step cannot read its own outputs here", /* a precondition */
        "E:11:29:a step cannot read its own outputs here", /* dry_run */
        "E:12:29:a step cannot read its own outputs here", /* retry.attempts (until is fine) */
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: c\n"
                     "    exec: [echo, \"${{ steps.c.stdout }}\"]\n"
                     "    title: \"${{ steps.c.outcome }}\"\n"
                     "    when: \"steps.c.exit_code == 0\"\n"
                     "    confirm: \"${{ steps.c.stdout }}\"\n"
                     "    preconditions: [{ assert: \"steps.c.stdout\" }]\n"
                     "    dry_run: { stdout: \"${{ steps.c.stderr }}\" }\n"
                     "    retry: { attempts: \"${{ steps.c.exit_code }}\", until: \"steps.c.exit_code == 0\" }\n"
                     "    effect: read\n"
                     "    rollback:\n"
                     "      exec: [echo, \"${{ steps.c.stdout }}\"]\n"
                     "    verify:\n"
                     "      exec: [test, -n, \"${{ steps.c.stdout }}\"]\n"
                     "      expect: { stdout: \"x\" }\n",
                want);
}

static void rollback_reads_ancestors_only(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:12:72:step \"b\" is not guaranteed to have finished before \"a\"",
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: z\n"
                     "    exec: [echo, z]\n"
                     "    effect: read\n"
                     "  - id: a\n"
                     "    exec: [echo, a]\n"
                     "    effect: read\n"
                     "    rollback:\n"
                     "      exec: [echo, \"${{ steps.z.stdout }} ${{ steps.a.stdout }}\","
                     " \"${{ steps.b.stdout }}\"]\n"
                     "  - id: b\n"
                     "    exec: [echo, b]\n"
                     "    effect: read\n",
                want);
}

static void targets_read_steps_their_users_follow(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:6:39:this target reads step \"s\", which is not guaranteed to have finished before \"u\" uses it",
        "H:6:39:add \"s\" to the needs of \"u\"",
        "E:7:51:unknown input \"nope\"",
        NULL};
    expect_yaml(HEAD "inputs: { h: { default: x } }\n"
                     "targets:\n"
                     "  a: { http: { base_url: \"https://${{ steps.s.stdout }}\", timeout: 5s } }\n"
                     "  b: { ssh: { host: \"${{ inputs.h }}\", user: \"${{ inputs.nope }}\" } }\n"
                     "steps:\n"
                     "  - id: s\n"
                     "    exec: [echo]\n"
                     "    effect: read\n"
                     "  - id: u\n"
                     "    needs: []\n"
                     "    http: { target: a, path: /x }\n"
                     "  - id: later\n"
                     "    needs: [s]\n"
                     "    http: { target: a, path: /x }\n",
                want);
}

static void sql_template_regex_and_captures(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:10:66:${{ }} is not allowed inside an SQL query",
        "H:10:66:bind values with $1",
        "E:13:27:column: needs a column name", /* at the (empty) name, after the prefix */
        "E:16:30:invalid regex: missing closing parenthesis",
        "E:17:48:invalid regex: missing terminating ] for character class",
        "E:19:20:a re: capture needs a group: re:version (\\S+)",
        "E:20:19:a JSON pointer starts with \"/\" (RFC 6901)",
        "E:21:22:in a JSON pointer, ~ must be written ~0 and / inside a key ~1",
        "E:22:12:this capture cannot read the output of a", /* column: on http */
        "E:23:24:invalid regex: missing closing parenthesis",
        "E:25:65:a JSON pointer starts with \"/\"",           /* in a rollback block */
        NULL};
    expect_yaml(HEAD "inputs:\n"
                     "  user: { default: alice }\n"
                     "targets:\n"
                     "  db: { postgres: { host: localhost, dbname: app, user: ops } }\n"
                     "steps:\n"
                     "  - id: q\n"
                     "    sql: { target: db, query: \"SELECT * FROM users WHERE name = '${{ inputs.user }}'\" }\n"
                     "    effect: read\n"
                     "    timeout: 5s\n"
                     "    capture: { c: \"column:\", v: \"re:(\\\\d+)\", n: \"column:name\" }\n"
                     "  - id: h\n"
                     "    http: { url: \"https://example.com/health\", timeout: 5s }\n"
                     "    expect: { body: \"^(OK|UP$\", json: { /ok: true } }\n"
                     "    verify: { exec: [x], expect: { stdout: \"ab[\" } }\n"
                     "    capture:\n"
                     "      version: \"re:version [0-9]+\"\n"
                     "      item: \"json:result/x\"\n"
                     "      tilde: \"json:/a~2b\"\n"
                     "      col: \"column:x\"\n"
                     "      ok: \"re:v(\\\\d+)(x\"\n"
                     "      good: \"json:/a~0b~1c\"\n"
                     "    rollback: { exec: [y], capture: { o: \"re:(?<n>x)\", j: \"json:x\" } }\n",
                want);
}

static void inputs_are_checked(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:5:35:enum value \"a\" is listed twice",
        "E:6:3:input \"n\" has min greater than max",
        "E:7:36:default of input \"p\": does not match the pattern [a-z]+",
        "E:8:22:invalid regex: missing terminating ]",
        "E:9:44:default of input \"i\": 9 is out of range (1 to 5)",
        "E:10:29:default of input \"b\": expected true or false",
        "E:11:28:default of input \"u\": expected an http:// or https:// URL",
        "E:12:43:default of input \"dd\": longer than the maximum 1m",
        "E:13:45:default of input \"e\": expected one of: x, y",
        NULL};
    expect_yaml(HEAD "inputs:\n"
                     "  m: { type: enum, values: [a, b, a] }\n"
                     "  n: { type: int, min: 5, max: 1 }\n"
                     "  p: { pattern: \"[a-z]+\", default: abc1 }\n"
                     "  q: { pattern: \"[a-z\", default: a }\n"
                     "  i: { type: int, min: 1, max: 5, default: 9 }\n"
                     "  b: { type: bool, default: \"yes\" }\n"
                     "  u: { type: url, default: ftp://x }\n"
                     "  dd: { type: duration, max: 1m, default: 2m }\n"
                     "  e: { type: enum, values: [x, y], default: z }\n"
                     "steps:\n"
                     "  - id: s\n"
                     "    exec: [echo]\n"
                     "    effect: read\n",
                want);
}

static void targets_and_dry_run(void **state)
{
    (void)state;
    static const char *const want[] = {
        "E:10:20:unknown target \"dbb\"",
        "H:10:20:did you mean \"db\"?",
        "E:13:20:target \"box\" is a ssh target; sql needs a postgres target",
        "E:18:29:dry_run names \"rows\", which is not an output of this step",
        NULL};
    expect_yaml(HEAD "targets:\n"
                     "  db: { postgres: { host: localhost, dbname: a, user: b } }\n"
                     "  box: { ssh: { host: h, user: u } }\n"
                     "defaults: { timeout: 1m }\n"
                     "steps:\n"
                     "  - id: a\n"
                     "    sql: { target: dbb, query: \"SELECT 1\" }\n"
                     "    effect: read\n"
                     "  - id: b\n"
                     "    sql: { target: box, query: \"SELECT 1\" }\n"
                     "    effect: read\n"
                     "  - id: c\n"
                     "    exec: [x]\n"
                     "    effect: read\n"
                     "    dry_run: { stdout: \"x\", rows: [], v: \"${{ 1 }}\" }\n"
                     "    capture: { v: \"re:(x)\" }\n",
                want);
}

static void name_must_match_file(void **state)
{
    (void)state;
    run r;
    check_named(&r, "dir/other.yml", HEAD "steps:\n  - id: a\n    exec: [x]\n    effect: read\n", NULL);
    static const char *const want[] = {
        "E:1:10:the runbook's name \"t\" differs from its file name \"other\"",
        "H:1:10:rename the file or the runbook",
        NULL};
    expect_exactly(&r.d, want);
    done(&r);
    check_named(&r, "some/dir/t.yaml", HEAD "steps:\n  - id: a\n    exec: [x]\n    effect: read\n", NULL);
    static const char *const none[] = {NULL};
    expect_exactly(&r.d, none);
    done(&r);
}

static void checks_survive_a_cycle(void **state)
{
    (void)state;
    run r;
    check_yaml(&r, HEAD "steps:\n"
                        "  - id: a\n    needs: [b]\n    exec: [echo, \"${{ steps.b.stdout }}\"]\n    effect: read\n"
                        "  - id: b\n    needs: [a]\n    exec: [echo, \"${{ steps.a.stdout }} ${{ steps.c.x }}\"]\n"
                        "    destructive: true\n    effect: read\n");
    assert_true(r.g.has_cycle);
    /* the cycle, and the unknown step; no order error and no crash */
    assert_int_equal(r.d.errors, 2);
    done(&r);
}

static void templates_outside_steps_are_checked(void **state)
{
    (void)state;
    /* Templates and expressions outside steps are checked too (once a bug: they passed validate
     * and failed only at run time). Each of these lines must draw an error:
     *   deadline: "${{ inputs.nope }}"                          (top level; rb_check skips it)
     *   objectives: { rto: "${{ steps.zz.x }}" }
     *   defaults: { timeout: "${{ secrets.nothing }}" }
     *   defaults: { retry: { until: "((" } }                    (check_retry reads s->retry only)
     *   defaults: { retry: { delay: "${{ bogus.x }}" } }
     *   inputs: { d: { type: duration, min: "${{ inputs.q }}" } } (the bound is silently dropped)
     *   capture: { outcome: "re:(x)" }   (a capture may hide outcome/attempts/duration, the
     *                                     outputs every step has; build_capture() only compares
     *                                     with the action's own outputs)
     * Expected: an error on each of those lines. */
    run r;
    check_lenient(&r, HEAD "deadline: \"${{ inputs.nope }}\"\n"                               /* 4 */
                        "objectives: { rto: \"${{ steps.zz.x }}\" }\n"                     /* 5 */
                        "defaults: { timeout: \"${{ secrets.nothing }}\" }\n"              /* 6 */
                        "inputs:\n"
                        "  d: { type: duration, min: \"${{ inputs.q }}\" }\n"              /* 8 */
                        "steps:\n"
                        "  - id: a\n"
                        "    exec: [x]\n"
                        "    effect: read\n"
                        "    capture: { outcome: \"re:(x)\" }\n");                      /* 13 */
    static const unsigned lines[] = {4, 5, 6, 8, 13};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int found = 0;
        for (size_t k = 0; k < r.d.count; k++)
            found |= r.d.items[k].sev == RB_SEV_ERROR && r.d.items[k].line == lines[i];
        if (!found) {
            dump(&r.d);
            fail_msg("no error on line %u", lines[i]);
        }
    }
    done(&r);
    check_lenient(&r, HEAD "defaults: { retry: { attempts: 2, until: \"((\", delay: \"${{ bogus.x }}\" } }\n"
                        "steps:\n  - id: a\n    exec: [x]\n    effect: read\n");
    if (r.d.errors < 2) {
        dump(&r.d);
        fail_msg("defaults.retry: expected 2 errors (until, delay), got %zu", r.d.errors);
    }
    done(&r);
}

/* ---- calls through a catalog ---- */

typedef struct tmpdir {
    char path[64];
} tmpdir;

static void write_file(const tmpdir *t, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", t->path, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const tmpdir *t, const char *const *names)
{
    char p[256];
    for (size_t i = 0; names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", t->path, names[i]);
        unlink(p);
    }
    rmdir(t->path);
}

static void calls_between_runbooks(void **state)
{
    (void)state;
    tmpdir t;
    snprintf(t.path, sizeof t.path, "/tmp/rb-check-XXXXXX");
    assert_non_null(mkdtemp(t.path));
    write_file(&t, "a.yaml",
               "runbook: a\nversion: 1\ntitle: A\n"
               "steps:\n"
               "  - id: call\n"                                                      /* 5 */
               "    runbook: { name: b, inputs: { wrong: x, opt: \"${{ run.id }}\" } }\n" /* 6 */
               "  - id: missing\n"
               "    runbook: { name: no-such-runbook }\n"                             /* 8 */
               "  - id: broken\n"
               "    runbook: { name: broken }\n"                                      /* 10 */
               "  - id: fine\n"
               "    runbook: { name: c, inputs: { needed: x } }\n"                    /* 12 */
               "  - id: yml\n"
               "    runbook: { name: d }\n");                                         /* 14 */
    write_file(&t, "b.yaml",
               "runbook: b\nversion: 1\ntitle: B\n"
               "inputs: { needed: { type: string }, opt: { default: x } }\n"
               "steps:\n"
               "  - id: back\n"
               "    runbook: { name: a }\n");
    write_file(&t, "c.yaml",
               "runbook: c\nversion: 1\ntitle: C\n"
               "inputs: { needed: { type: string } }\n"
               "steps:\n  - id: s\n    exec: [echo]\n    effect: read\n");
    write_file(&t, "d.yml", "runbook: d\nversion: 1\ntitle: D\nsteps:\n  - id: s\n    assert: \"true\"\n");
    write_file(&t, "broken.yaml", "runbook: broken\nversion: 2\ntitle: X\nsteps: []\n");
    static const char *const files[] = {"a.yaml", "b.yaml", "c.yaml", "d.yml", "broken.yaml", NULL};

    const char *dirs[] = {t.path, NULL};
    rb_catalog *cat = rb_catalog_new(dirs);
    assert_non_null(cat);

    char *p = rb_catalog_find(cat, "d", NULL);
    assert_non_null(p);
    assert_non_null(strstr(p, "/d.yml"));
    free(p);
    assert_null(rb_catalog_find(cat, "../a", NULL)); /* names are not paths */
    assert_null(rb_catalog_find(cat, "", NULL));
    assert_null(rb_catalog_find(cat, "zzz", NULL));
    const rb_runbook *c1 = rb_catalog_get(cat, "c", NULL), *c2 = rb_catalog_get(cat, "c", NULL);
    assert_non_null(c1);
    assert_ptr_equal(c1, c2); /* loaded once */
    assert_string_equal(c1->name, "c");
    assert_null(rb_catalog_get(cat, "broken", NULL)); /* has errors */

    char apath[256];
    snprintf(apath, sizeof apath, "%s/a.yaml", t.path);
    run r;
    rb_diags_init(&r.d);
    r.rb = rb_runbook_load(apath, &r.d);
    assert_non_null(r.rb);
    rb_graph_build(r.rb, &r.g, &r.d);
    rb_check(r.rb, &r.g, cat, &r.d);
    static const char *const want[] = {
        "E:6:35:runbook \"b\" has no input \"wrong\"",
        "E:6:5:runbook \"b\" needs input \"needed\"",
        "E:6:22:runbook calls form a cycle: a -> b -> a",
        "E:8:22:no runbook named \"no-such-runbook\" next to this file or on RUNBOOK_PATH",
        "E:10:22:runbook \"broken\" (",
        NULL};
    expect_exactly(&r.d, want);
    done(&r);

    /* Without a catalog, calls are only checked for their shape. */
    rb_diags_init(&r.d);
    r.rb = rb_runbook_load(apath, &r.d);
    rb_graph_build(r.rb, &r.g, &r.d);
    rb_check(r.rb, &r.g, NULL, &r.d);
    static const char *const none[] = {NULL};
    expect_exactly(&r.d, none);
    done(&r);

    rb_catalog_free(cat);

    /* The calling file's folder comes first, even with an empty search path. */
    rb_catalog *near = rb_catalog_from_path("/nonexistent-a:/nonexistent-b");
    assert_non_null(near);
    p = rb_catalog_find(near, "b", t.path);
    assert_non_null(p);
    free(p);
    assert_null(rb_catalog_find(near, "b", NULL));
    rb_catalog_free(near);
    remove_dir(&t, files);
}

static void self_call_is_a_cycle(void **state)
{
    (void)state;
    tmpdir t;
    snprintf(t.path, sizeof t.path, "/tmp/rb-check-XXXXXX");
    assert_non_null(mkdtemp(t.path));
    write_file(&t, "loop.yaml", "runbook: loop\nversion: 1\ntitle: L\nsteps:\n  - id: again\n    runbook: { name: loop }\n");
    static const char *const files[] = {"loop.yaml", NULL};
    char path[256];
    snprintf(path, sizeof path, "%s/loop.yaml", t.path);
    rb_catalog *cat = rb_catalog_from_path(NULL); /* ./runbooks; the file's folder is searched first */
    run r;
    rb_diags_init(&r.d);
    r.rb = rb_runbook_load(path, &r.d);
    rb_graph_build(r.rb, &r.g, &r.d);
    rb_check(r.rb, &r.g, cat, &r.d);
    static const char *const want[] = {"E:6:22:runbook calls form a cycle: loop -> loop", NULL};
    expect_exactly(&r.d, want);
    done(&r);
    rb_catalog_free(cat);
    remove_dir(&t, files);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "call_cycle_search_is_not_exponential: rb_check still running after 20s\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(1);
}

static void call_cycle_search_is_not_exponential(void **state)
{
    (void)state;
    /* BUG: find_cycle() in src/check/calls.c walks every call path up to MAX_CALL_DEPTH (16)
     * without remembering runbooks already explored, so a call cycle that does not pass
     * through the checked runbook is searched exponentially: with b calling c four times and
     * c calling b four times, checking a (which calls b) takes 4^16 catalog lookups and
     * `runbook validate a.yaml` never finishes. Reproduction (one folder):
     *   a.yaml: runbook: a, steps: [{ id: s, runbook: { name: b } }]
     *   b.yaml: runbook: b, four steps s1..s4 each `runbook: { name: c }`
     *   c.yaml: runbook: c, four steps s1..s4 each `runbook: { name: b }`
     *   runbook validate a.yaml   (or rb_check(a) with a catalog over the folder)
     * With two calls each it takes ~1s, with three several minutes. */
    tmpdir t;
    snprintf(t.path, sizeof t.path, "/tmp/rb-check-XXXXXX");
    assert_non_null(mkdtemp(t.path));
    write_file(&t, "a.yaml", "runbook: a\nversion: 1\ntitle: A\nsteps:\n  - id: s\n    runbook: { name: b }\n");
    char text[512];
    for (int k = 0; k < 2; k++) {
        const char *me = k ? "c" : "b", *other = k ? "b" : "c";
        int len = snprintf(text, sizeof text, "runbook: %s\nversion: 1\ntitle: X\nsteps:\n", me);
        for (int i = 1; i <= 4; i++)
            len += snprintf(text + len, sizeof text - (size_t)len, "  - id: s%d\n    runbook: { name: %s }\n", i, other);
        char file[16];
        snprintf(file, sizeof file, "%s.yaml", me);
        write_file(&t, file, text);
    }
    static const char *const files[] = {"a.yaml", "b.yaml", "c.yaml", NULL};
    char path[256];
    snprintf(path, sizeof path, "%s/a.yaml", t.path);
    const char *dirs[] = {t.path, NULL};
    rb_catalog *cat = rb_catalog_new(dirs);
    run r;
    rb_diags_init(&r.d);
    r.rb = rb_runbook_load(path, &r.d);
    rb_graph_build(r.rb, &r.g, &r.d);
    signal(SIGALRM, on_alarm);
    alarm(20);
    rb_check(r.rb, &r.g, cat, &r.d);
    alarm(0);
    assert_int_equal(r.d.errors, 0); /* the b <-> c cycle is reported when b or c is checked */
    done(&r);
    rb_catalog_free(cat);
    remove_dir(&t, files);
}

static void call_cycle_not_through_the_caller(void **state)
{
    (void)state;
    /* The compliant neighbour of the bug above: with one call each, a (calling into the
     * b <-> c cycle) checks clean and fast, and b reports its own cycle. */
    tmpdir t;
    snprintf(t.path, sizeof t.path, "/tmp/rb-check-XXXXXX");
    assert_non_null(mkdtemp(t.path));
    write_file(&t, "a.yaml", "runbook: a\nversion: 1\ntitle: A\nsteps:\n  - id: s\n    runbook: { name: b }\n");
    write_file(&t, "b.yaml", "runbook: b\nversion: 1\ntitle: B\nsteps:\n  - id: s\n    runbook: { name: c }\n");
    write_file(&t, "c.yaml", "runbook: c\nversion: 1\ntitle: C\nsteps:\n  - id: s\n    runbook: { name: b }\n");
    static const char *const files[] = {"a.yaml", "b.yaml", "c.yaml", NULL};
    const char *dirs[] = {t.path, NULL};
    rb_catalog *cat = rb_catalog_new(dirs);
    char path[256];
    static const char *const none[] = {NULL};
    static const char *const cycle[] = {"E:6:22:runbook calls form a cycle: b -> c -> b", NULL};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s.yaml", t.path, k ? "b" : "a");
        run r;
        rb_diags_init(&r.d);
        r.rb = rb_runbook_load(path, &r.d);
        rb_graph_build(r.rb, &r.g, &r.d);
        rb_check(r.rb, &r.g, cat, &r.d);
        expect_exactly(&r.d, k ? cycle : none);
        done(&r);
    }
    rb_catalog_free(cat);
    remove_dir(&t, files);
}

/* ---- lint rules: each fires, and not on its compliant variant ---- */

static void lint_rule_list_matches_docs(void **state)
{
    (void)state;
    const char *src = getenv("RUNBOOK_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/language.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s (set RUNBOOK_SOURCE_DIR)", path);
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    size_t count = 0;
    for (; rb_lint_rules[count]; count++) {
        char cell[64];
        snprintf(cell, sizeof cell, "| `%s` |", rb_lint_rules[count]);
        if (!strstr(doc, cell))
            fail_msg("rule %s is not in the docs' table", rb_lint_rules[count]);
    }
    assert_int_equal(count, 11);
    /* and the docs list no rule the code lacks */
    const char *table = strstr(doc, "| rule | fires on |");
    assert_non_null(table);
    size_t rows = 0;
    for (const char *p = strstr(table, "\n| `"); p; p = strstr(p + 1, "\n| `"))
        rows++;
    assert_int_equal(rows, count);
}

static void lint_no_rollback(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:no-rollback:5:9:step \"w\" changes the world but has no rollback",
        "H:5:9:add rollback:",
        NULL};
    expect_yaml(HEAD "steps:\n  - id: w\n    exec: [systemctl, restart, db]\n", want);
    /* compliant: a rollback, irreversible (with a confirm), effect read, a file step, a runbook
     * call, a manual step */
    rule_fires(HEAD "steps:\n"
                    "  - id: a\n    exec: [x]\n    rollback: { exec: [y] }\n"
                    "  - id: b\n    exec: [x]\n    irreversible: true\n    confirm: sure?\n"
                    "  - id: c\n    exec: [x]\n    effect: read\n"
                    "  - id: d\n    file: { path: /tmp/x, content: y }\n"
                    "  - id: e\n    runbook: { name: other }\n"
                    "  - id: f\n    confirm: do it by hand\n"
                    "  - id: g\n    http: { url: \"https://x\", timeout: 5s }\n"
                    "  - id: h\n    sleep: 1s\n"
                    "  - id: i\n    assert: \"true\"\n",
               "no-rollback", 0);
    /* every write kind fires: shell, sql, ssh, http POST */
    rule_fires(HEAD "defaults: { timeout: 1m }\n"
                    "targets: { db: { postgres: { host: localhost, dbname: a, user: b } }, box: { ssh: { host: h, user: u } } }\n"
                    "steps:\n"
                    "  - id: a\n    shell: \"echo\"\n"
                    "  - id: b\n    sql: { target: db, query: \"UPDATE t SET x = 1\" }\n"
                    "  - id: c\n    ssh: { target: box, command: reboot }\n"
                    "  - id: d\n    http: { url: \"https://x\", method: POST }\n",
               "no-rollback", 4);
}

static void lint_unconfirmed_destructive(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:unconfirmed-destructive:8:18:destructive step \"drop\" runs without a confirm on it or before it",
        "H:8:18:add confirm:",
        "W:unconfirmed-destructive:11:19:irreversible step \"gone\" runs without a confirm",
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: drop\n"
                     "    exec: [dropdb, app]\n"
                     "    rollback: { exec: [createdb, app] }\n"
                     "    destructive: true\n"
                     "  - id: gone\n"
                     "    exec: [rm, -rf, /data]\n"
                     "    irreversible: true\n",
                want);
    /* compliant: a confirm on the step, or on a step it depends on (here through the implicit
     * order, two steps up) */
    rule_fires(HEAD "steps:\n"
                    "  - id: ask\n    confirm: Ready to fail over?\n"
                    "  - id: between\n    exec: [x]\n    effect: read\n"
                    "  - id: drop\n    exec: [dropdb]\n    destructive: true\n    irreversible: true\n"
                    "  - id: own\n    needs: []\n    exec: [rm]\n    irreversible: true\n    confirm: sure?\n",
               "unconfirmed-destructive", 0);
    /* a confirm on a step that runs beside it does not count */
    rule_fires(HEAD "steps:\n"
                    "  - id: ask\n    confirm: Ready?\n"
                    "  - id: drop\n    needs: []\n    exec: [dropdb]\n    destructive: true\n    irreversible: true\n",
               "unconfirmed-destructive", 1);
}

static void lint_no_timeout(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:no-timeout:9:5:sql action without a timeout can hang the run", /* connect_timeout is not enough */
        "H:9:5:set timeout: on the step",
        "W:no-timeout:12:5:ssh action without a timeout",
        "W:no-timeout:15:5:http action without a timeout",
        "W:no-timeout:19:17:http action without a timeout", /* a rollback block */
        NULL};
    expect_yaml(HEAD "targets:\n"
                     "  db: { postgres: { host: localhost, dbname: a, user: b, connect_timeout: 5s } }\n"
                     "  box: { ssh: { host: h, user: u } }\n"
                     "steps:\n"
                     "  - id: q\n"
                     "    sql: { target: db, query: \"SELECT 1\" }\n"
                     "    effect: read\n"
                     "  - id: s\n"
                     "    ssh: { target: box, command: uptime }\n"
                     "    effect: read\n"
                     "  - id: h\n"
                     "    http: { url: \"https://x\" }\n"
                     "  - id: e\n"
                     "    exec: [x]\n" /* not a network action */
                     "    effect: read\n"
                     "    rollback: { http: { url: \"https://x\", method: DELETE } }\n",
                want);
    /* compliant: own timeout, the http action's timeout, an http target's timeout */
    rule_fires(HEAD "targets:\n"
                    "  db: { postgres: { host: localhost, dbname: a, user: b } }\n"
                    "  api: { http: { base_url: \"https://x\", timeout: 10s } }\n"
                    "steps:\n"
                    "  - id: q\n    sql: { target: db, query: \"SELECT 1\" }\n    effect: read\n    timeout: 5s\n"
                    "  - id: h\n    http: { url: \"https://x\", timeout: 5s }\n"
                    "  - id: t\n    http: { target: api, path: /x }\n"
                    "  - id: r\n    exec: [x]\n    effect: read\n    timeout: 1m\n"
                    "    rollback: { http: { url: \"https://x\", method: DELETE } }\n",
               "no-timeout", 0);
    /* compliant: defaults.timeout covers every step */
    rule_fires(HEAD "defaults: { timeout: 2m }\n"
                    "steps:\n  - id: h\n    http: { url: \"https://x\" }\n",
               "no-timeout", 0);
}

static void lint_secret_in_argv(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:secret-in-argv:11:20:a secret in an argv is visible to every user through ps",
        "H:11:20:pass it in env: or stdin: instead",
        "W:secret-in-argv:16:9:a secret in an argv",  /* a secret capture */
        "W:secret-in-argv:19:22:a secret in an argv", /* in a rollback */
        NULL};
    expect_yaml(HEAD "secrets: { token: { env: TOKEN } }\n"
                     "steps:\n"
                     "  - id: get\n"
                     "    exec: [vault, read]\n"
                     "    effect: read\n"
                     "    capture: { pw: { from: \"re:pw=(\\\\S+)\", secret: true }, user: \"re:u=(\\\\S+)\" }\n"
                     "  - id: push\n"
                     "    exec: [deploy, \"--token=${{ secrets.token }}\"]\n"
                     "    effect: read\n"
                     "  - id: login\n"
                     "    exec:\n"
                     "      - login\n"
                     "      - \"${{ steps.get.pw }}\"\n"
                     "    effect: read\n"
                     "    rollback:\n"
                     "      exec: [logout, \"${{ secrets.token }}\"]\n",
                want);
    /* compliant: secrets through env or stdin, non-secret captures in argv */
    rule_fires(HEAD "secrets: { token: { env: TOKEN } }\n"
                    "steps:\n"
                    "  - id: get\n    exec: [vault, read]\n    effect: read\n"
                    "    capture: { pw: { from: \"re:pw=(\\\\S+)\", secret: true }, user: \"re:u=(\\\\S+)\" }\n"
                    "  - id: push\n"
                    "    exec: { argv: [deploy, \"--user=${{ steps.get.user }}\"],"
                    " env: { TOKEN: \"${{ secrets.token }}\" }, stdin: \"${{ steps.get.pw }}\" }\n"
                    "    effect: read\n",
               "secret-in-argv", 0);
}

static void lint_insecure_transport(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:insecure-transport:5:51:target \"api\" turns TLS verification off",
        "W:insecure-transport:6:65:target \"box\" turns host key checking off",
        "W:insecure-transport:7:52:sslmode require does not verify the server of target \"db\"",
        "W:insecure-transport:8:55:sslmode disable does not verify the server of target \"db2\"",
        NULL};
    expect_yaml(HEAD "targets:\n"
                     "  api: { http: { base_url: \"https://x\", insecure: true, timeout: 5s } }\n"
                     "  box: { ssh: { host: box.example.com, user: u, host_key_check: false } }\n"
                     "  db: { postgres: { host: db.example.com, sslmode: require } }\n"
                     "  db2: { postgres: { url: \"postgres://db/x\", sslmode: disable } }\n"
                     "steps:\n  - id: a\n    assert: \"true\"\n",
                want);
    /* compliant: verification on, or a loopback / socket host */
    rule_fires(HEAD "targets:\n"
                    "  api: { http: { base_url: \"https://x\", insecure: false, timeout: 5s } }\n"
                    "  box: { ssh: { host: box.example.com, user: u, host_key_check: true } }\n"
                    "  db: { postgres: { host: db.example.com, sslmode: verify-full } }\n"
                    "  l1: { postgres: { host: localhost, sslmode: disable } }\n"
                    "  l2: { postgres: { host: 127.0.0.2, sslmode: require } }\n"
                    "  l3: { postgres: { host: /var/run/postgresql, sslmode: disable } }\n"
                    "  l4: { postgres: { host: \"::1\", sslmode: prefer } }\n"
                    "steps:\n  - id: a\n    assert: \"true\"\n",
               "insecure-transport", 0);
}

static void lint_shell_for_typed(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:shell-for-typed:6:12:a shell step running curl: use the typed http action",
        "W:shell-for-typed:9:12:a shell step running psql: use the typed sql action",
        "W:shell-for-typed:12:22:a shell step running ssh: use the typed ssh action",
        "W:shell-for-typed:15:12:a shell step running sleep: use the typed sleep action",
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: a\n"
                     "    shell: \"curl -fsS https://x\"\n"
                     "    effect: read\n"
                     "  - id: b\n"
                     "    shell: \"  psql -c 'select 1'\"\n"
                     "    effect: read\n"
                     "  - id: c\n"
                     "    shell: { script: \"ssh box uptime\" }\n"
                     "    effect: read\n"
                     "  - id: d\n"
                     "    shell: \"sleep\"\n"
                     "    effect: read\n",
                want);
    rule_fires(HEAD "steps:\n"
                    "  - id: a\n    shell: \"sleepy 10\"\n    effect: read\n"
                    "  - id: b\n    shell: \"echo curl; echo psql\"\n    effect: read\n"
                    "  - id: c\n    shell: \"curlx\"\n    effect: read\n"
                    "  - id: d\n    exec: [curl, https://x]\n    effect: read\n",
               "shell-for-typed", 0);
}

static void lint_unreachable(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:unreachable:6:11:step \"a\" can never run: its when is always false",
        "W:unreachable:9:11:step \"b\" can never run",
        "W:unreachable:12:11:step \"c\" can never run",
        NULL};
    expect_yaml(HEAD "steps:\n"
                     "  - id: a\n"
                     "    when: \"1 == 2\"\n"
                     "    assert: \"true\"\n"
                     "  - id: b\n"
                     "    when: \"${{ false }}\"\n"
                     "    assert: \"true\"\n"
                     "  - id: c\n"
                     "    when: \"len('') > 0 && true\"\n"
                     "    assert: \"true\"\n",
                want);
    rule_fires(HEAD "inputs: { go: { type: bool, default: false } }\n"
                    "steps:\n"
                    "  - id: a\n    when: \"true\"\n    assert: \"true\"\n"
                    "  - id: b\n    when: \"inputs.go\"\n    assert: \"true\"\n"    /* decided at run time */
                    "  - id: c\n    when: \"run.dry_run == false\"\n    assert: \"true\"\n",
               "unreachable", 0);
}

static void lint_read_only_write(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:read-only-write:8:31:a read step calls pg_promote, which acts even in a READ ONLY transaction",
        "H:8:31:mark the step effect: write",
        "W:read-only-write:11:31:a read step runs COPY ... PROGRAM",
        "W:read-only-write:14:31:a read step calls pg_terminate_backend",
        NULL};
    expect_yaml(HEAD "targets: { db: { postgres: { host: localhost, dbname: a, user: b } } }\n"
                     "defaults: { timeout: 1m }\n"
                     "steps:\n"
                     "  - id: a\n"
                     "    sql: { target: db, query: \"SELECT pg_promote()\" }\n"
                     "    effect: read\n"
                     "  - id: b\n"
                     "    sql: { target: db, query: \"copy t to program 'rm -rf /'\" }\n"
                     "    effect: read\n"
                     "  - id: c\n"
                     "    sql: { target: db, query: \"select PG_TERMINATE_BACKEND(1)\" }\n"
                     "    effect: read\n",
                want);
    rule_fires(HEAD "targets: { db: { postgres: { host: localhost, dbname: a, user: b } } }\n"
                    "defaults: { timeout: 1m }\n"
                    "steps:\n"
                    "  - id: a\n    sql: { target: db, query: \"SELECT pg_promote()\" }\n"
                    "    effect: write\n    rollback: { exec: [x] }\n"
                    "  - id: b\n    sql: { target: db, query: \"SELECT pg_is_in_recovery()\" }\n    effect: read\n",
               "read-only-write", 0);
}

static void lint_unguarded_null(void **state)
{
    (void)state;
    static const char *const want[] = {
        "W:unguarded-null:15:23:step \"maybe\" may be skipped, and then its outputs are null",
        "H:15:23:also test steps.maybe.outcome in this expression",
        "W:unguarded-null:17:12:step \"flaky\" may be failed and continued past",
        NULL};
    expect_yaml(HEAD "inputs: { go: { type: bool, default: true } }\n"
                     "steps:\n"
                     "  - id: maybe\n"
                     "    when: \"inputs.go\"\n"
                     "    exec: [x]\n"
                     "    effect: read\n"
                     "  - id: flaky\n"
                     "    exec: [y]\n"
                     "    effect: read\n"
                     "    on_failure: continue\n"
                     "  - id: use\n"
                     "    exec: [echo, \"${{ steps.maybe.stdout }}\"]\n"
                     "    effect: read\n"
                     "    when: \"steps.flaky.exit_code == 0\"\n",
                want);
    /* compliant: the expression also reads the step's outcome; steps that always run */
    rule_fires(HEAD "inputs: { go: { type: bool, default: true } }\n"
                    "steps:\n"
                    "  - id: maybe\n    when: \"inputs.go\"\n    exec: [x]\n    effect: read\n"
                    "  - id: sure\n    exec: [x]\n    effect: read\n"
                    "  - id: use\n"
                    "    exec: [echo, \"${{ steps.maybe.outcome == 'ok' && steps.maybe.stdout }}\","
                    " \"${{ steps.sure.stdout }}\"]\n"
                    "    effect: read\n"
                    "    when: \"steps.maybe.outcome == 'ok' && steps.maybe.exit_code == 0\"\n",
               "unguarded-null", 0);
}

static void lint_heuristics_match_words(void **state)
{
    (void)state;
    /* BUG (lint accuracy, src/check/lint.c):
     *  - read_only_write() looks for the substrings "copy" and then "program" anywhere, so
     *    query "SELECT * FROM copy_jobs WHERE program_id = 1" with effect: read draws
     *    "a read step runs COPY ... PROGRAM" (a false positive on ordinary names);
     *  - is_loopback() takes any host starting with "127." as loopback, so a DNS name such as
     *    host: 127.example.com with sslmode: disable draws no insecure-transport warning.
     * Reproduction: the runbook below; expected no read-only-write and one insecure-transport. */
    run r;
    check_yaml(&r, HEAD "defaults: { timeout: 1m }\n"
                        "targets: { db: { postgres: { host: 127.example.com, sslmode: disable } } }\n"
                        "steps:\n"
                        "  - id: a\n"
                        "    sql: { target: db, query: \"SELECT * FROM copy_jobs WHERE program_id = 1\" }\n"
                        "    effect: read\n");
    assert_int_equal(count_rule(&r.d, "read-only-write"), 0);
    assert_int_equal(count_rule(&r.d, "insecure-transport"), 1);
    done(&r);
}

/* ---- rb_input_check ---- */

static rb_runbook *inputs_runbook(rb_diags *d)
{
    static const char yaml[] = HEAD "inputs:\n"
                                    "  s: { type: string }\n"
                                    "  p: { pattern: \"[a-z]+\" }\n"
                                    "  alt: { pattern: \"a|b\" }\n"
                                    "  i: { type: int, min: -5, max: 10 }\n"
                                    "  lo: { type: int, min: 3 }\n"
                                    "  free: { type: int }\n"
                                    "  b: { type: bool }\n"
                                    "  u: { type: url }\n"
                                    "  e: { type: enum, values: [fast, safe] }\n"
                                    "  d: { type: duration, min: 1s, max: 1h }\n"
                                    "  dd: { type: duration }\n"
                                    "steps:\n  - id: a\n    assert: \"true\"\n";
    rb_diags_init(d);
    rb_doc *doc = rb_load_buffer("t.yaml", yaml, strlen(yaml), d);
    assert_non_null(doc);
    rb_runbook *rb = rb_model_build(doc, d);
    assert_int_equal(rb->errors, 0);
    return rb;
}

static void input_ok(const rb_runbook *rb, const char *name, const char *value)
{
    char err[200] = "";
    if (rb_input_check(rb_runbook_input(rb, name), value, err, sizeof err) != 0)
        fail_msg("input %s: \"%s\" refused: %s", name, value, err);
}

static void input_bad(const rb_runbook *rb, const char *name, const char *value, const char *msg)
{
    char err[200] = "";
    if (rb_input_check(rb_runbook_input(rb, name), value, err, sizeof err) != -1)
        fail_msg("input %s: \"%s\" accepted", name, value);
    if (!strstr(err, msg))
        fail_msg("input %s: \"%s\": message \"%s\" lacks \"%s\"", name, value, err, msg);
}

static void input_check_every_type(void **state)
{
    (void)state;
    rb_diags d;
    rb_runbook *rb = inputs_runbook(&d);

    input_ok(rb, "s", "");
    input_ok(rb, "s", "anything at all 123 ;$(x)");

    input_ok(rb, "p", "abc");
    input_bad(rb, "p", "abc1", "does not match the pattern [a-z]+"); /* anchored at the end */
    input_bad(rb, "p", "1abc", "does not match");                    /* and at the start */
    input_bad(rb, "p", "", "does not match");
    input_bad(rb, "p", "abc\n", "does not match"); /* \z, not $: no trailing newline */
    input_ok(rb, "alt", "a");
    input_ok(rb, "alt", "b");
    input_bad(rb, "alt", "ab", "does not match"); /* the alternation is grouped before anchoring */
    input_bad(rb, "alt", "xb", "does not match");

    input_ok(rb, "i", "-5");
    input_ok(rb, "i", "10");
    input_ok(rb, "i", "+3");
    input_bad(rb, "i", "11", "11 is out of range (-5 to 10)");
    input_bad(rb, "i", "-6", "-6 is out of range (-5 to 10)");
    input_bad(rb, "i", "1.5", "expected an integer");
    input_bad(rb, "i", "", "expected an integer");
    input_bad(rb, "i", "0x10", "expected an integer");
    input_bad(rb, "i", " 1", "expected an integer");
    input_bad(rb, "i", "99999999999999999999", "expected an integer");
    input_bad(rb, "lo", "2", "2 is out of range (3 to 9223372036854775807)");
    /* the smallest 64-bit integer is reserved for "known only at run time" in the model */
    input_bad(rb, "free", "-9223372036854775808", "expected an integer");

    input_ok(rb, "b", "true");
    input_ok(rb, "b", "false");
    input_bad(rb, "b", "True", "expected true or false");
    input_bad(rb, "b", "yes", "expected true or false");
    input_bad(rb, "b", "1", "expected true or false");

    input_ok(rb, "u", "https://example.com");
    input_ok(rb, "u", "http://10.0.0.1:8080/path?q=1");
    input_bad(rb, "u", "ftp://example.com", "expected an http:// or https:// URL");
    input_bad(rb, "u", "example.com", "expected an http:// or https:// URL");
    input_bad(rb, "u", "https://", "the URL has no host");
    input_bad(rb, "u", "http:///path", "the URL has no host");
    input_bad(rb, "u", "https://:443", "the URL has no host");
    input_bad(rb, "u", "https://a b", "a URL cannot hold spaces or control characters");
    input_bad(rb, "u", "https://a\tb", "a URL cannot hold spaces");

    input_ok(rb, "e", "fast");
    input_ok(rb, "e", "safe");
    input_bad(rb, "e", "Fast", "expected one of: fast, safe");
    input_bad(rb, "e", "", "expected one of: fast, safe");

    input_ok(rb, "d", "1s");
    input_ok(rb, "d", "1h");
    input_ok(rb, "d", "1m30s");
    input_bad(rb, "d", "999ms", "shorter than the minimum 1s");
    input_bad(rb, "d", "1h1s", "longer than the maximum 1h");
    input_bad(rb, "d", "90", "expected a duration with a unit");
    input_bad(rb, "d", "soon", "expected a duration with a unit");
    input_ok(rb, "dd", "0s");
    input_ok(rb, "dd", "2d");

    /* a short error buffer is filled, truncated, terminated */
    char tiny[8];
    assert_int_equal(rb_input_check(rb_runbook_input(rb, "b"), "x", tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

static void input_pattern_anchoring_keeps_valid_patterns_valid(void **state)
{
    (void)state;
    /* BUG: check_pattern_value() in src/check/check.c anchors a pattern by pasting it into
     * "\A(?:PATTERN)\z". A pattern that compiles on its own can swallow the closing text:
     * "\Qa.b" (quote to the end) or "(?x)[a-z]+ # letters" (a comment to the end). The checker
     * accepts the pattern (it compiles alone), then every value is refused with "the input's
     * pattern is not a valid regex". Reproduction:
     *   inputs: { p: { pattern: "\\Qa.b", default: a.b } }
     *   -> error: default of input "p": the input's pattern is not a valid regex
     * (Anchoring with PCRE2_ANCHORED | PCRE2_ENDANCHORED at match time avoids the pasting.) */
    rb_diags d;
    rb_diags_init(&d);
    static const char yaml[] = HEAD "inputs:\n"
                                    "  q: { pattern: \"\\\\Qa.b\" }\n"
                                    "  x: { pattern: \"(?x)[a-z]+ # letters\" }\n"
                                    "steps:\n  - id: a\n    assert: \"true\"\n";
    rb_doc *doc = rb_load_buffer("t.yaml", yaml, strlen(yaml), &d);
    rb_runbook *rb = rb_model_build(doc, &d);
    assert_int_equal(rb->errors, 0);
    input_ok(rb, "q", "a.b");
    input_bad(rb, "q", "axb", "does not match");
    input_ok(rb, "x", "abc");
    input_bad(rb, "x", "abc1", "does not match");
    rb_runbook_free(rb);
    rb_diags_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_runbook_is_clean),
        cmocka_unit_test(unknown_references),
        cmocka_unit_test(expression_errors_are_located),
        cmocka_unit_test(ancestor_rule),
        cmocka_unit_test(self_references),
        cmocka_unit_test(rollback_reads_ancestors_only),
        cmocka_unit_test(targets_read_steps_their_users_follow),
        cmocka_unit_test(sql_template_regex_and_captures),
        cmocka_unit_test(inputs_are_checked),
        cmocka_unit_test(targets_and_dry_run),
        cmocka_unit_test(name_must_match_file),
        cmocka_unit_test(checks_survive_a_cycle),
        cmocka_unit_test(templates_outside_steps_are_checked),
        cmocka_unit_test(calls_between_runbooks),
        cmocka_unit_test(self_call_is_a_cycle),
        cmocka_unit_test(call_cycle_not_through_the_caller),
        cmocka_unit_test(lint_rule_list_matches_docs),
        cmocka_unit_test(lint_no_rollback),
        cmocka_unit_test(lint_unconfirmed_destructive),
        cmocka_unit_test(lint_no_timeout),
        cmocka_unit_test(lint_secret_in_argv),
        cmocka_unit_test(lint_insecure_transport),
        cmocka_unit_test(lint_shell_for_typed),
        cmocka_unit_test(lint_unreachable),
        cmocka_unit_test(lint_read_only_write),
        cmocka_unit_test(lint_unguarded_null),
        cmocka_unit_test(lint_heuristics_match_words),
        cmocka_unit_test(input_check_every_type),
        cmocka_unit_test(input_pattern_anchoring_keeps_valid_patterns_valid),
        cmocka_unit_test(call_cycle_search_is_not_exponential), /* last: with the bug it hangs */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
