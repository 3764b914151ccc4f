/* Rendering a shell script without putting any value in it. Quoting a value into the text is
 * only as safe as the reading of every place it lands, and five ways around that reading were
 * found (issue 7); a value passed in the environment and read by name is never parsed by the
 * shell, whatever it holds. The script text keeps the author's bytes, with each ${{ }}
 * replaced by "$RB_Vn" or ${RB_Vn} (rb_shell_scan picks the spelling and refuses the places
 * where neither expands as one value). The values also stay out of the script's text, which an
 * ssh command sends to a remote shell and a local run writes to a pipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbook/expr.h"

typedef struct shell_ctx {
    const rb_shell_part *parts;
    size_t nparts;
    json_t *env;
    size_t not_number; /* 1 + the index of a part that flows into an evaluation, not a number */
} shell_ctx;

/* A decimal number, as an int or number value renders: bash evaluates nothing else in it. */
static int is_number(const char *s, size_t len)
{
    size_t i = len && (s[0] == '-' || s[0] == '+'), digits = 0, dots = 0;
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && !dots++)
            continue;
        else
            return 0;
    }
    return digits > 0;
}

static char *substitute(void *ctx, size_t index, const char *s, size_t len)
{
    shell_ctx *c = ctx;
    if (index < c->nparts && c->parts[index].flow && !is_number(s, len)) {
        c->not_number = index + 1;
        return NULL;
    }
    char name[32], *ref = malloc(40);
    json_t *v = memchr(s, '\0', len) ? NULL : json_stringn(s, len);
    snprintf(name, sizeof name, "RB_V%zu", index + 1);
    if (!ref || !v || index >= c->nparts || json_object_set_new(c->env, name, v) < 0) {
        free(ref);
        return NULL; /* json_object_set_new released v */
    }
    snprintf(ref, 40, c->parts[index].form == RB_SHELL_QUOTED ? "${%s}" : "\"$%s\"", name);
    return ref;
}

char *rb_shell_render(const rb_template *t, const char *script, size_t len, const rb_scope *scope,
                      json_t *env, int *unknown, rb_shell_error *err)
{
    size_t n = rb_template_parts(t);
    rb_shell_part *parts = calloc(n ? n : 1, sizeof *parts);
    rb_expr_error e;
    char *out = NULL;
    if (unknown)
        *unknown = 0;
    if (!parts) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    long found = rb_shell_scan(script, len, parts, n, err);
    if (found >= 0 && (size_t)found != n) {
        err->offset = 0, err->hint = NULL;
        snprintf(err->message, sizeof err->message, "the shell lexer and the template disagree on the ${{ }} count");
    } else if (found >= 0) {
        shell_ctx c = {parts, n, env, 0};
        out = rb_template_render_with(t, scope, substitute, &c, unknown, &e);
        if (!out && c.not_number) {
            const rb_shell_part *p = &parts[c.not_number - 1];
            err->offset = p->offset, err->hint = "give the input type int, or compare the value as data: [ \"$n\" -lt 5 ]";
            snprintf(err->message, sizeof err->message, "this value reaches the script's line %u, where %s, and it is not a number",
                     p->flow_line, p->flow == RB_SHELL_RUN ? "a shell runs it as code" : "bash evaluates it as arithmetic or as a name");
        } else if (!out && !(unknown && *unknown)) {
            err->offset = e.offset, err->hint = NULL;
            snprintf(err->message, sizeof err->message, "%s", e.message);
        }
    }
    free(parts);
    return out;
}
