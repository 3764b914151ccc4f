/* Typed readers over scalars, and "did you mean" suggestions for misspelt keys. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "runbook/expr.h"

void b_error(build *b, const rb_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_diag_node(b->d, b->doc, n, RB_NO_OFFSET, RB_SEV_ERROR, NULL, "%s", msg);
    b->rb->errors++;
}

void *b_calloc(build *b, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        b_error(b, rb_doc_root(b->doc), "out of memory");
    return p;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *rb_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = strlen(word) / 3 + 1;
    if (best_d > 3)
        best_d = 3;
    for (size_t i = 0; candidates && candidates[i]; i++) {
        size_t dist = edit_distance(word, candidates[i]);
        if (dist <= best_d && (!best || dist < edit_distance(word, best)))
            best = candidates[i];
    }
    return best;
}

const char *rb_article(const char *word)
{
    static const char *const an[] = {"exec", "http", "sql", "ssh", "assert", NULL};
    for (size_t i = 0; an[i]; i++)
        if (!strcmp(word, an[i]))
            return "an";
    return strchr("aeiou", word[0]) && word[0] ? "an" : "a";
}

static int listed(const char *key, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (key[0] == list[i][0] && strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

static void unknown_key(build *b, const rb_node *key, const char *const *allowed,
                        const char *const *extra, const char *what)
{
    const char *s = rb_suggest(key->str, allowed);
    if (!s)
        s = rb_suggest(key->str, extra);
    b_error(b, key, "unknown key \"%s\" in %s", key->str, what);
    if (s)
        rb_diag_hint(b->d, "did you mean \"%s\"?", s);
}

void b_check_keys(build *b, const rb_node *map, const char *const *allowed,
                  const char *const *extra, const char *what)
{
    for (size_t i = 0; i < map->count; i++) {
        const rb_node *key = map->items[2 * i];
        if (!listed(key->str, allowed) && !listed(key->str, extra))
            unknown_key(b, key, allowed, extra, what);
    }
}

static long index_of(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (key[0] == list[i][0] && strcmp(key, list[i]) == 0)
            return (long)i;
    return -1;
}

void b_fields(build *b, const rb_node *map, const char *const *keys, const char *const *extra,
              const char *what, const rb_node **out)
{
    for (size_t i = 0; keys[i]; i++)
        out[i] = NULL;
    for (size_t i = 0; i < map->count; i++) {
        const rb_node *key = map->items[2 * i];
        long k = index_of(key->str, keys);
        if (k >= 0)
            out[k] = map->items[2 * i + 1];
        else if (!listed(key->str, extra))
            unknown_key(b, key, keys, extra, what);
    }
}

static const char *kind_name(rb_node_kind k)
{
    return k == RB_NODE_MAP ? "a mapping" : k == RB_NODE_SEQ ? "a list" : "a single value";
}

int b_want(build *b, const rb_node *n, rb_node_kind kind, const char *what)
{
    if (n->kind == kind)
        return 0;
    b_error(b, n, "%s must be %s, not %s", what, kind_name(kind), kind_name(n->kind));
    return -1;
}

const char *b_string(build *b, const rb_node *n, const char *what)
{
    if (b_want(b, n, RB_NODE_SCALAR, what) != 0)
        return NULL;
    if (rb_node_is_null(n)) {
        b_error(b, n, "%s must not be empty", what);
        return NULL;
    }
    return n->str;
}

int rb_scalar_bool(const rb_node *n, int *out)
{
    if (!n || n->kind != RB_NODE_SCALAR || n->style != RB_STYLE_PLAIN)
        return -1;
    if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE"))
        *out = 1;
    else if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE"))
        *out = 0;
    else
        return -1;
    return 0;
}

int rb_scalar_int(const rb_node *n, long long *out)
{
    if (!n || n->kind != RB_NODE_SCALAR || n->style != RB_STYLE_PLAIN || !n->len)
        return -1;
    const char *s = n->str;
    if (*s == '+' || *s == '-')
        s++;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (!*s)
        return -1;
    errno = 0;
    long long v = strtoll(n->str, NULL, 10);
    if (errno || v == RB_DYNAMIC)
        return -1;
    *out = v;
    return 0;
}

int rb_scalar_has_template(const rb_node *n)
{
    return n && n->kind == RB_NODE_SCALAR && strstr(n->str, "${{") != NULL;
}

/* Exactly one ${{ }} and nothing around it: a value known only at run time. */
static int single_template(const rb_node *n)
{
    rb_expr_error err;
    rb_template *t = rb_template_parse(n->str, n->len, &err);
    int single = t && rb_template_single(t) != NULL;
    rb_template_free(t);
    return single;
}

int b_bool(build *b, const rb_node *n, const char *what, int *out)
{
    if (rb_scalar_bool(n, out) == 0)
        return 0;
    b_error(b, n, "%s must be true or false", what);
    if (n->kind == RB_NODE_SCALAR && n->style != RB_STYLE_PLAIN)
        rb_diag_hint(b->d, "write it without quotes");
    return -1;
}

int b_int(build *b, const rb_node *n, const char *what, long long *out)
{
    if (rb_scalar_int(n, out) == 0)
        return 0;
    if (n->kind == RB_NODE_SCALAR && rb_scalar_has_template(n) && single_template(n)) {
        *out = RB_DYNAMIC;
        return 0;
    }
    b_error(b, n, "%s must be an integer", what);
    return -1;
}

int b_duration(build *b, const rb_node *n, const char *what, long long *ms)
{
    *ms = RB_NO_DURATION;
    if (!n)
        return 0;
    if (b_want(b, n, RB_NODE_SCALAR, what) != 0)
        return -1;
    if (rb_scalar_has_template(n) && single_template(n)) {
        *ms = RB_DYNAMIC;
        return 0;
    }
    if (rb_duration_parse(n->str, n->len, ms) == 0)
        return 0;
    long long bare;
    if (rb_scalar_int(n, &bare) == 0) {
        b_error(b, n, "%s needs a unit", what);
        rb_diag_hint(b->d, "write \"%llds\" for seconds (units: ms, s, m, h, d)", bare);
    } else {
        b_error(b, n, "%s \"%.40s\" is not a duration", what, n->str);
        rb_diag_hint(b->d, "durations look like 250ms, 90s, 5m, 1h30m");
    }
    *ms = RB_NO_DURATION;
    return -1;
}

int b_enum(build *b, const rb_node *n, const char *const *names, const char *what)
{
    if (b_want(b, n, RB_NODE_SCALAR, what) != 0)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(n->str, names[i]) == 0)
            return i;
    char list[200] = "";
    for (int i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    b_error(b, n, "%s must be one of: %s", what, list);
    const char *s = rb_suggest(n->str, names);
    if (s)
        rb_diag_hint(b->d, "did you mean \"%s\"?", s);
    return -1;
}

int b_id(build *b, const rb_node *n, const char *what)
{
    if (!b_string(b, n, what))
        return -1;
    const char *s = n->str;
    int ok = n->len <= 64 && (islower((unsigned char)*s) || isdigit((unsigned char)*s));
    for (const char *p = s; ok && *p; p++)
        ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_';
    if (ok)
        return 0;
    b_error(b, n, "%s \"%.64s\" is not a valid name", what, s);
    rb_diag_hint(b->d, "use lower-case letters, digits, '-' and '_', starting with a letter or digit");
    return -1;
}

static const char *const policy_names[] = {"abort", "rollback", "continue", NULL};

int b_policy(build *b, const rb_node *n, rb_policy *out)
{
    int i = b_enum(b, n, policy_names, "on_failure");
    if (i < 0)
        return -1;
    *out = (rb_policy)(i + 1);
    return 0;
}

const char *rb_policy_name(rb_policy p)
{
    return p == RB_POLICY_UNSET ? "abort" : policy_names[p - 1];
}
