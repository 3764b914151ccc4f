/* An action inside a step or a block: find the one action key, then type its parameters
 * from the registry's table. */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "runbook/show.h"

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL};

static void template_list(build *b, const rb_node *n, const char *what)
{
    if (b_want(b, n, RB_NODE_SEQ, what) != 0)
        return;
    for (size_t i = 0; i < n->count; i++)
        b_want(b, n->items[i], RB_NODE_SCALAR, "each item");
}

static void template_map(build *b, const rb_node *n, const char *what)
{
    if (b_want(b, n, RB_NODE_MAP, what) != 0)
        return;
    for (size_t i = 0; i < n->count; i++)
        b_want(b, n->items[2 * i + 1], RB_NODE_SCALAR, "each value");
}

/* An environment variable's name: a '=' in it would set another variable (HOME=/x=...). */
static void env_names(build *b, const rb_node *n)
{
    for (size_t i = 0; n->kind == RB_NODE_MAP && i < n->count; i++) {
        const char *k = n->items[2 * i]->str;
        int ok = (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_';
        for (const char *p = k; ok && *p; p++)
            ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            b_error(b, n->items[2 * i], "\"%.60s\" is not an environment variable name (letters, digits, _)", k);
    }
}

static void check_mode(build *b, const rb_node *n)
{
    if (b_want(b, n, RB_NODE_SCALAR, "mode") != 0)
        return;
    size_t len = n->len, digits = 0;
    for (size_t i = 0; i < len; i++)
        digits += n->str[i] >= '0' && n->str[i] <= '7';
    if (digits != len || len < 3 || len > 4)
        b_error(b, n, "mode must be an octal string such as \"0600\"");
}

static void check_exprs(build *b, const rb_node *n)
{
    if (n->kind == RB_NODE_SEQ) {
        if (n->count == 0)
            b_error(b, n, "assert needs at least one expression");
        for (size_t i = 0; i < n->count; i++)
            b_want(b, n->items[i], RB_NODE_SCALAR, "an expression");
    } else {
        b_want(b, n, RB_NODE_SCALAR, "an expression");
    }
}

/* Types one parameter value; references (targets, runbooks, ${{ }}) are the checker's job. */
static void type_param(build *b, const rb_param_def *def, const rb_node *n)
{
    long long v;
    int flag;
    switch (def->kind) {
    case RB_P_TEMPLATE:
    case RB_P_SQL:
        b_want(b, n, RB_NODE_SCALAR, def->key);
        break;
    case RB_P_TARGET:
    case RB_P_RUNBOOK:
        b_id(b, n, def->key);
        break;
    case RB_P_TEMPLATE_LIST:
        template_list(b, n, def->key);
        if (n->kind == RB_NODE_SEQ && n->count == 0 && !strcmp(def->key, "argv"))
            b_error(b, n, "argv needs at least the program to run");
        break;
    case RB_P_TEMPLATE_MAP:
        template_map(b, n, def->key);
        if (!strcmp(def->key, "env"))
            env_names(b, n);
        break;
    case RB_P_ANY:
        break;
    case RB_P_DURATION:
        b_duration(b, n, def->key, &v);
        break;
    case RB_P_INT:
        b_int(b, n, def->key, &v);
        break;
    case RB_P_BOOL:
        b_bool(b, n, def->key, &flag);
        break;
    case RB_P_EXPRS:
        check_exprs(b, n);
        break;
    case RB_P_MODE:
        check_mode(b, n);
        break;
    case RB_P_METHOD:
        b_enum(b, n, methods, "method");
        break;
    }
}

static void param_names(const rb_action_type *t, const char **names)
{
    size_t i = 0;
    for (; i < t->nparams; i++)
        names[i] = t->params[i].key;
    names[i] = NULL;
}

static void fill_from_map(build *b, rb_action *a, const char *what)
{
    const rb_action_type *t = a->type;
    const char *names[RB_MAX_PARAMS + 1];
    char where[64];
    param_names(t, names);
    snprintf(where, sizeof where, "%s (%s)", t->name, what);
    b_check_keys(b, a->value, names, NULL, where);
    for (size_t i = 0; i < t->nparams; i++) {
        a->params[i] = rb_map_get(a->value, t->params[i].key);
        if (a->params[i])
            type_param(b, &t->params[i], a->params[i]);
        else if (t->params[i].flags & RB_PF_REQUIRED)
            b_error(b, a->key, "%s needs \"%s\"", t->name, t->params[i].key);
    }
}

static void http_rules(build *b, const rb_action *a)
{
    const rb_node *url = rb_action_param(a, "url"), *target = rb_action_param(a, "target");
    const rb_node *path = rb_action_param(a, "path");
    if (url && target)
        b_error(b, target, "http takes \"url\" or \"target\" (with \"path\"), not both");
    else if (!url && !target)
        b_error(b, a->key, "http needs \"url\" or \"target\"");
    if (path && !target)
        b_error(b, path, "\"path\" is relative to a target's base_url: add \"target\"");
    const rb_node *json = rb_action_param(a, "json"), *body = rb_action_param(a, "body");
    if (json && body)
        b_error(b, body, "http takes a \"json\" or a \"body\", not both");
}

/* `exec: systemctl restart nginx` means the list its words make: say so, with that list. */
static void hint_list_form(build *b, const rb_action *a)
{
    const rb_node *v = a->value;
    if (v->kind != RB_NODE_SCALAR || !(a->type->shorthand_kinds & (1u << RB_NODE_SEQ)))
        return;
    char list[120] = "[";
    size_t len = 1, room = sizeof list - 8; /* room for ", …]" after the words */
    const char *p = v->str;
    int cut = 0;
    while (*p && len < 100) {
        size_t n = strcspn(p, " \t");
        if (n)
            cut = snprintf(list + len, room - len, "%s%.*s", len > 1 ? ", " : "", (int)n, p) >= (int)(room - len);
        len = strlen(list);
        len -= rb_show_incomplete_tail(list, len); /* a character snprintf cut short */
        p += n + strspn(p + n, " \t");
    }
    snprintf(list + len, sizeof list - len, "%s", cut || *p ? ", …]" : "]");
    rb_diag_hint(b->d, "write a list, %s: %s%s", a->type->name, list,
                 !strcmp(a->type->name, "exec") ? ", or use shell: for a command line" : "");
}

static void fill_action(build *b, rb_action *a, const char *what)
{
    const rb_action_type *t = a->type;
    if (a->value->kind == RB_NODE_MAP) {
        fill_from_map(b, a, what);
    } else if (t->shorthand && (t->shorthand_kinds & (1u << a->value->kind))) {
        int i = rb_action_param_index(t, t->shorthand);
        a->params[i] = a->value;
        type_param(b, &t->params[i], a->value);
    } else {
        b_error(b, a->value, "%s takes %s", t->name,
                t->shorthand ? "a short form or a mapping of its parameters" : "a mapping of its parameters");
        hint_list_form(b, a);
        return;
    }
    if (!strcmp(t->name, "http"))
        http_rules(b, a);
}

int b_action(build *b, const rb_node *map, rb_action *out, const char *what)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < map->count; i++) {
        const rb_node *key = map->items[2 * i];
        const rb_action_type *t = rb_action_type_find(key->str);
        if (!t)
            continue;
        if (out->type) {
            b_error(b, key, "%s takes one action; found both \"%s\" and \"%s\"", what,
                    out->type->name, t->name);
            rb_diag_hint(b->d, "split it into two steps");
            continue;
        }
        out->type = t;
        out->key = key;
        out->value = map->items[2 * i + 1];
    }
    if (out->type)
        fill_action(b, out, what);
    return out->type ? 0 : -1;
}
