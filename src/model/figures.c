/* The top-level `report:` list: figures a run records through its steps' outputs, which
 * `runbook report` reads back from the journal (and compares with an objective). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

static const char *const objective_names[] = {"none", "rto", "rpo", NULL};
static const char *const duration_units[] = {"ms", "s", NULL};

const char *rb_figure_objective_name(rb_figure_objective o) { return objective_names[o]; }

static int id_char(char ch, int first)
{
    return islower((unsigned char)ch) || isdigit((unsigned char)ch) || (!first && (ch == '-' || ch == '_'));
}

/* The length of an id at s (0 when there is none). */
static size_t id_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && id_char(s[n], n == 0))
        n++;
    return n;
}

/* "steps.ID.FIELD", alone or as the only thing inside ${{ }}, into f->ref. */
static int parse_value(build *b, rb_figure *f, const rb_node *n)
{
    const char *s = n->str;
    size_t len = n->len;
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len > 5 && !strncmp(s, "${{", 3) && !strncmp(s + len - 2, "}}", 2)) {
        s += 3, len -= 5;
        while (len && isspace((unsigned char)*s))
            s++, len--;
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
    }
    size_t id = len > 6 && !strncmp(s, "steps.", 6) ? id_len(s + 6, len - 6) : 0;
    size_t field = id && 6 + id < len && s[6 + id] == '.' ? id_len(s + 7 + id, len - 7 - id) : 0;
    if (!id || !field || 7 + id + field != len || id > 64 || field > 64) {
        b_error(b, n, "a figure's value names one step output: steps.STEP.FIELD");
        rb_diag_hint(b->d, "capture the number first (capture: { lag_ms: \"re:(\\\\d+)\" }), then value: steps.STEP.lag_ms");
        return -1;
    }
    f->ref = malloc(id + field + 2);
    if (!f->ref)
        return -1;
    memcpy(f->ref, s + 6, id);
    f->ref[id] = '\0';
    memcpy(f->ref + id + 1, s + 7 + id, field);
    f->ref[id + 1 + field] = '\0';
    f->step = f->ref;
    f->field = f->ref + id + 1;
    return 0;
}

static void build_figure(build *b, rb_figure *f, const rb_node *n)
{
    static const char *const keys[] = {"label", "value", "objective", "unit", NULL};
    f->node = n;
    if (b_want(b, n, RB_NODE_MAP, "a figure") != 0)
        return;
    b_check_keys(b, n, keys, NULL, "a figure");
    const rb_node *v;
    if (!(v = rb_map_get(n, "label")))
        b_error(b, n, "a figure needs a \"label\" (what the number is)");
    else if ((f->label = b_string(b, v, "label")) && v->len > 200)
        b_error(b, v, "a label is at most 200 characters");
    if (!(f->value_node = rb_map_get(n, "value")))
        b_error(b, n, "a figure needs a \"value\": steps.STEP.FIELD");
    else if (b_string(b, f->value_node, "value"))
        parse_value(b, f, f->value_node);
    int o;
    if ((f->objective_node = rb_map_get(n, "objective")) &&
        (o = b_enum(b, f->objective_node, objective_names, "objective")) >= 0)
        f->objective = (rb_figure_objective)o;
    if ((v = rb_map_get(n, "unit")) && f->objective != RB_FIGURE_NONE)
        f->unit = b_enum(b, v, duration_units, "the unit of a figure with an objective") >= 0 ? v->str : NULL;
    else if (v)
        f->unit = b_string(b, v, "unit");
    if (v && f->unit && v->len > 32)
        b_error(b, v, "a unit is at most 32 characters");
}

void b_figures(build *b, const rb_node *seq)
{
    if (!seq || b_want(b, seq, RB_NODE_SEQ, "report") != 0)
        return;
    if (seq->count > 64) {
        b_error(b, seq, "report lists at most 64 figures");
        return;
    }
    b->rb->figures = b_calloc(b, seq->count ? seq->count : 1, sizeof(rb_figure));
    if (!b->rb->figures)
        return;
    b->rb->nfigures = seq->count;
    for (size_t i = 0; i < seq->count; i++)
        build_figure(b, &b->rb->figures[i], seq->items[i]);
}
