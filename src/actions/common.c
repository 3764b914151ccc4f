/* What every action may use: the call's clock and cancel state, failures, the expect helpers
 * that several actions share, RFC 6901 pointers (jansson has none), and global set-up. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runbook/action.h"
#include "runbook/model.h"
#include "runbook/regex.h"

long long rb_act_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long rb_act_remaining_ms(const rb_act_call *c)
{
    if (c->deadline_ms <= 0)
        return -1;
    long long left = c->deadline_ms - rb_act_now_ms();
    return left > 0 ? left : 0;
}

int rb_act_cancelled(const rb_act_call *c)
{
    if (c->cancel && rb_proc_cancel_requested(c->cancel))
        return 1;
    struct pollfd p = {c->cancel_fd, POLLIN, 0};
    return c->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

void rb_act_fail(rb_act_result *res, rb_outcome o, const char *errclass, const char *fmt, ...)
{
    res->outcome = o;
    snprintf(res->errclass, sizeof res->errclass, "%s", errclass);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

/* ---- expect ---- */

static int int_of(const json_t *v, long long *out)
{
    if (json_is_integer(v))
        return *out = json_integer_value(v), 0;
    if (json_is_string(v)) {
        char *end;
        *out = strtoll(json_string_value(v), &end, 10);
        return *json_string_value(v) && !*end ? 0 : -1;
    }
    return -1;
}

int rb_act_code_allowed(const json_t *want, long long got, int default_class)
{
    long long v;
    if (!want)
        return default_class ? got / 100 == default_class : got == 0;
    if (json_is_array(want)) {
        for (size_t i = 0; i < json_array_size(want); i++)
            if (int_of(json_array_get(want, i), &v) == 0 && v == got)
                return 1;
        return 0;
    }
    const char *s = json_string_value(want);
    if (s && strlen(s) == 3 && s[1] == 'x')
        return got / 100 == s[0] - '0';
    return int_of(want, &v) == 0 && v == got;
}

static int text_matches(const json_t *re_text, const json_t *text)
{
    size_t off, s, l;
    char msg[160];
    const char *p = json_string_value(re_text);
    rb_regex *re = p ? rb_regex_compile(p, json_string_length(re_text), &off, msg, sizeof msg) : NULL;
    int m = re && json_is_string(text)
                ? rb_regex_match(re, json_string_value(text), json_string_length(text), -1, &s, &l)
                : 0;
    rb_regex_free(re);
    return m == 1;
}

int rb_act_judge_code_and_text(const json_t *expect, rb_act_result *res, const char *code_key,
                               int default_class, const char *code_name, const char *text_key)
{
    long long got = json_integer_value(json_object_get(res->outputs, code_key));
    char cls[32];
    snprintf(cls, sizeof cls, "%lld", got);
    if (!rb_act_code_allowed(json_object_get(expect, code_key), got, default_class)) {
        rb_act_fail(res, RB_OUT_FAILED, cls, "%s %lld", code_name, got);
        return -1;
    }
    const json_t *re = json_object_get(expect, text_key);
    if (re && !text_matches(re, json_object_get(res->outputs, text_key))) {
        rb_act_fail(res, RB_OUT_FAILED, "expect", "the %s does not match expect.%s", text_key, text_key);
        return -1;
    }
    return 0;
}

char *rb_act_text_of(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (!v || json_is_null(v))
        return strdup("null");
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* ---- RFC 6901 ---- */

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

json_t *rb_json_pointer_get(const json_t *root, const char *ptr)
{
    json_t *cur = (json_t *)root;
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

/* ---- once per process ---- */

static int initialised;

int rb_actions_global_init(char *err, size_t errlen)
{
    if (initialised)
        return 0;
    for (size_t i = 0; rb_action_types[i]; i++) {
        const rb_action_ops *ops = rb_action_types[i]->ops;
        if (ops && ops->global_init && ops->global_init(err, errlen) != 0)
            return -1;
    }
    initialised = 1;
    return 0;
}

void rb_actions_global_cleanup(void)
{
    if (!initialised)
        return;
    for (size_t i = 0; rb_action_types[i]; i++) {
        const rb_action_ops *ops = rb_action_types[i]->ops;
        if (ops && ops->global_cleanup)
            ops->global_cleanup();
    }
    initialised = 0;
}
