/* After an action: did the step succeed (its own rule or expect:), and what do its captures
 * read. Also RFC 6901 pointers, which jansson does not have. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runbook/regex.h"
#include "runbook/values.h"

json_t *json_pointer_get(json_t *root, const char *ptr);

static char *pointer_token(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    for (size_t i = 0; out && i < len; i++) {
        if (s[i] == '~' && i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1'))
            *o++ = s[++i] == '0' ? '~' : '/';
        else
            *o++ = s[i];
    }
    if (o)
        *o = 0;
    return out;
}

/* Borrowed result, or NULL when the pointer leads nowhere. */
json_t *json_pointer_get(json_t *root, const char *ptr)
{
    json_t *cur = root;
    while (cur && *ptr == '/') {
        const char *next = strchr(ptr + 1, '/');
        size_t len = next ? (size_t)(next - ptr - 1) : strlen(ptr + 1);
        char *tok = pointer_token(ptr + 1, len);
        if (!tok)
            return NULL;
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = *tok && !*end && (tok[0] != '0' || !tok[1]) ? json_array_get(cur, idx) : NULL;
        } else
            cur = NULL;
        free(tok);
        ptr += len + 1;
    }
    return *ptr ? NULL : cur;
}

static int is_process(const rb_action *a)
{
    const char *t = a->type->name;
    return !strcmp(t, "exec") || !strcmp(t, "shell") || !strcmp(t, "ssh");
}

/* expect: exit_code / status as an int, a list of ints, or a class such as "2xx". */
static int code_allowed(const rb_node *want, long long got, int default_class)
{
    long long v;
    if (!want)
        return default_class ? got / 100 == default_class : got == 0;
    if (want->kind == RB_NODE_SEQ) {
        for (size_t i = 0; i < want->count; i++)
            if (rb_scalar_int(want->items[i], &v) == 0 && v == got)
                return 1;
        return 0;
    }
    if (want->kind == RB_NODE_SCALAR && want->len == 3 && want->str[1] == 'x')
        return got / 100 == want->str[0] - '0';
    return rb_scalar_int(want, &v) == 0 && v == got;
}

static int matches(const rb_node *re_node, json_t *text)
{
    size_t off, s, l;
    char msg[160];
    rb_regex *re = rb_regex_compile(re_node->str, re_node->len, &off, msg, sizeof msg);
    int m = re && json_is_string(text)
                ? rb_regex_match(re, json_string_value(text), json_string_length(text), -1, &s, &l)
                : 0;
    rb_regex_free(re);
    return m == 1;
}

/* Text of a JSON value for comparing with an expected YAML scalar. */
static char *as_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (!v || json_is_null(v))
        return strdup("null");
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int json_expectations(const rb_node *want, json_t *doc, char *msg, size_t len)
{
    for (size_t i = 0; want && i < want->count; i++) {
        const rb_node *k = want->items[2 * i], *v = want->items[2 * i + 1];
        char *got = as_text(doc ? json_pointer_get(doc, k->str) : NULL);
        int ok = got && v->kind == RB_NODE_SCALAR && !strcmp(got, v->str);
        free(got);
        if (!ok) {
            snprintf(msg, len, "the JSON at %.60s is not %.60s", k->str, v->kind == RB_NODE_SCALAR ? v->str : "?");
            return 0;
        }
    }
    return 1;
}

static void fail_with(act_result *res, const char *errclass, const char *msg)
{
    act_fail(res, RB_OUT_FAILED, errclass, "%s", msg);
}

/* The shape exec/shell/ssh and http share: a code (exit code, status) that expect: may widen,
 * then a regex over the main text. Returns 0 when both hold; else fails `res`. */
static int judge_code_and_text(const rb_node *ex, act_result *res, const char *code_key, int default_class,
                               const char *code_name, const char *text_key)
{
    long long got = json_integer_value(json_object_get(res->outputs, code_key));
    char cls[32], msg[128];
    snprintf(cls, sizeof cls, "%lld", got);
    if (!code_allowed(rb_map_get(ex, code_key), got, default_class)) {
        snprintf(msg, sizeof msg, "%s %lld", code_name, got);
        fail_with(res, cls, msg);
        return -1;
    }
    const rb_node *re = rb_map_get(ex, text_key);
    if (re && !matches(re, json_object_get(res->outputs, text_key))) {
        snprintf(msg, sizeof msg, "the %s does not match expect.%s", text_key, text_key);
        fail_with(res, "expect", msg);
        return -1;
    }
    return 0;
}

static void judge_process(const rb_node *ex, act_result *res)
{
    judge_code_and_text(ex, res, "exit_code", 0, "exit code", "stdout");
}

static void judge_http(const rb_node *ex, act_result *res)
{
    char msg[256];
    if (judge_code_and_text(ex, res, "status", 2, "HTTP status", "body") == 0 &&
        !json_expectations(rb_map_get(ex, "json"), json_object_get(res->outputs, "json"), msg, sizeof msg))
        fail_with(res, "expect", msg);
}

static void judge_sql(run *r, const rb_node *ex, act_result *res)
{
    const rb_node *want = rb_map_get(ex, "value"), *rows = rb_map_get(ex, "row_count");
    long long n;
    if (want) {
        rb_scope scope = run_scope(r);
        int unknown;
        char err[160];
        char *expected = rb_render_node(want, &scope, &unknown, err, sizeof err);
        char *got = as_text(json_object_get(res->outputs, "value"));
        int ok = expected && got && !strcmp(expected, got);
        free(expected);
        free(got);
        if (!ok)
            fail_with(res, "expect", "the query's value is not the expected one");
    }
    if (res->outcome == RB_OUT_SUCCEEDED && rows && rb_scalar_int(rows, &n) == 0 &&
        json_integer_value(json_object_get(res->outputs, "row_count")) != n)
        fail_with(res, "expect", "the query returned a different number of rows");
}

int judge(run *r, const rb_step *s, const rb_block *k, act_result *res)
{
    const rb_action *a = &k->action;
    if (res->outcome != RB_OUT_SUCCEEDED || !a->type)
        return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
    const rb_node *ex = k->expect;
    if (is_process(a))
        judge_process(ex, res);
    else if (!strcmp(a->type->name, "http"))
        judge_http(ex, res);
    else if (!strcmp(a->type->name, "sql"))
        judge_sql(r, ex, res);
    return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
}

/* ---- captures ---- */

static json_t *main_text(const rb_action *a, json_t *outputs)
{
    const char *t = a->type->name;
    return json_object_get(outputs, !strcmp(t, "http") ? "body" : !strcmp(t, "sql") ? "value" : "stdout");
}

static json_t *capture_re(const rb_capture *cap, json_t *text)
{
    size_t off, gs, gl;
    char msg[160];
    rb_regex *re = rb_regex_compile(cap->arg, strlen(cap->arg), &off, msg, sizeof msg);
    json_t *v = NULL;
    if (re && json_is_string(text) &&
        rb_regex_match(re, json_string_value(text), json_string_length(text), 1, &gs, &gl) == 1 && gs != (size_t)-1)
        v = json_stringn(json_string_value(text) + gs, gl);
    rb_regex_free(re);
    return v;
}

static json_t *capture_json(const rb_capture *cap, const rb_action *a, json_t *outputs)
{
    json_t *doc = json_object_get(outputs, "json"), *parsed = NULL;
    if (!doc) {
        json_t *text = main_text(a, outputs);
        if (json_is_string(text))
            parsed = json_loadb(json_string_value(text), json_string_length(text), JSON_DECODE_ANY, NULL);
        doc = parsed;
    }
    json_t *v = doc ? json_pointer_get(doc, cap->arg) : NULL;
    json_incref(v);
    json_decref(parsed);
    return v;
}

static json_t *capture_one(const rb_capture *cap, const rb_action *a, json_t *outputs)
{
    if (cap->kind == RB_CAP_RE)
        return capture_re(cap, main_text(a, outputs));
    if (cap->kind == RB_CAP_JSON)
        return capture_json(cap, a, outputs);
    json_t *row = json_array_get(json_object_get(outputs, "rows"), 0);
    json_t *v = json_object_get(row, cap->arg);
    return json_incref(v);
}

/* A secret capture can be any JSON value: every scalar in it is masked as the text a command
 * would print (98765432, true), not only strings. -1 when one cannot be masked. */
static int mask_value(rb_masker *m, json_t *v)
{
    size_t i;
    const char *key;
    json_t *item;
    int rc = 0;
    if (json_is_string(v))
        return json_string_length(v) ? rb_masker_add(m, json_string_value(v), json_string_length(v)) < 0 ? -1 : 0 : 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) rc |= mask_value(m, item);
        return rc;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, key, item) rc |= mask_value(m, item);
        return rc;
    }
    if (!json_is_number(v))
        return 0; /* true, false and null are not worth hiding: they are in every output */
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    rc = text && rb_masker_add(m, text, strlen(text)) < 0 ? -1 : 0;
    free(text);
    return rc;
}

int apply_captures(run *r, const rb_block *k, act_result *res, char *err, size_t errlen)
{
    for (size_t i = 0; i < k->ncaptures; i++) {
        const rb_capture *cap = &k->captures[i];
        if (!cap->node || !cap->name)
            continue;
        json_t *v = capture_one(cap, &k->action, res->outputs);
        if (!v) {
            snprintf(err, errlen, "capture \"%s\" found nothing", cap->name);
            return -1;
        }
        if (cap->secret && mask_value(r->masker, v) != 0) {
            json_decref(v); /* unmaskable: fail the step rather than let it through */
            snprintf(err, errlen, "secret capture \"%s\" cannot be masked", cap->name);
            return -1;
        }
        json_object_set_new(res->outputs, cap->name, v);
    }
    return 0;
}

/* ---- secret captures across a resume ---- */

int block_has_secret_capture(const rb_block *k)
{
    for (size_t i = 0; i < k->ncaptures; i++)
        if (k->captures[i].secret && k->captures[i].name)
            return 1;
    return 0;
}

static int has_secret_capture(const rb_step *s) { return block_has_secret_capture(&s->main); }

void mask_secret_captures(run *r, const rb_block *k, json_t *outputs)
{
    for (size_t i = 0; i < k->ncaptures; i++) {
        const rb_capture *cap = &k->captures[i];
        json_t *v = cap->secret && cap->node && cap->name ? capture_one(cap, &k->action, outputs) : NULL;
        mask_value(r->masker, v);
        json_decref(v);
    }
}

void save_secret_captures(run *r, const rb_step *s, json_t *outputs)
{
    if (!has_secret_capture(s))
        return;
    json_t *keep = json_object();
    for (size_t i = 0; i < s->main.ncaptures; i++) {
        const rb_capture *cap = &s->main.captures[i];
        json_t *v = cap->secret && cap->name ? json_object_get(outputs, cap->name) : NULL;
        if (v)
            json_object_set(keep, cap->name, v);
    }
    char key[320];
    side_key(r, s, key, sizeof key);
    char *text = json_dumps(keep, JSON_COMPACT);
    /* Without it a resumed run would read null where the value was: worth a note, not a stop. */
    if (!text || rb_journal_side_write(r->journal, key, "secrets", text, strlen(text)) != 0) {
        rb_event ev = {.kind = RB_EV_NOTE, .step = key, .text = "its secret captures could not be kept for a resume"};
        emit(r, &ev);
    }
    free(text);
    json_decref(keep);
}

void load_secret_captures(run *r, const rb_step *s, json_t *outputs)
{
    if (!has_secret_capture(s))
        return;
    char key[320];
    side_key(r, s, key, sizeof key);
    char *path = rb_journal_side_path(r->journal, key, "secrets");
    json_t *kept = path ? json_load_file(path, 0, NULL) : NULL;
    const char *name;
    json_t *v;
    json_object_foreach(kept, name, v)
    {
        mask_value(r->masker, v);
        json_object_set(outputs, name, v);
    }
    json_decref(kept);
    free(path);
}
