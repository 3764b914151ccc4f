/* Shared by the subcommands: finding a runbook by name or path, loading and checking it,
 * and the --set values checked against the runbook's inputs. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "runbook/show.h"

/* --color wins over the environment (as no-color.org asks); TERM=dumb is a terminal that
 * cannot show escapes, and a missing TERM says nothing about what it can show. */
int cli_use_color(FILE *f)
{
    if (cli_color_mode)
        return cli_color_mode > 0;
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(fileno(f)) && !(nc && *nc) && term && *term && strcmp(term, "dumb");
}

/* validate --ignore RULE: the team's visible choice for a whole run of validate. */
static void ignore_rules(rb_diags *d, const char *const *ignore)
{
    for (size_t i = 0; i < d->count; i++)
        for (size_t k = 0; ignore && ignore[k]; k++)
            if (d->items[i].rule && !strcmp(d->items[i].rule, ignore[k]))
                rb_diag_waive(d, i, "--ignore", 1);
}

size_t cli_load_checked(const char *path, rb_catalog *cat, int strict, rb_diags *d, cli_loaded *out)
{
    return cli_load_checked_ignoring(path, cat, strict, NULL, d, out);
}

size_t cli_load_checked_ignoring(const char *path, rb_catalog *cat, int strict, const char *const *ignore,
                                 rb_diags *d, cli_loaded *out)
{
    memset(out, 0, sizeof *out);
    rb_diags mine;
    rb_diags_init(&mine);
    out->rb = rb_runbook_load(path, &mine);
    if (out->rb) {
        out->graph_ok = rb_graph_build(out->rb, &out->graph, &mine) == 0;
        rb_check(out->rb, &out->graph, cat, &mine);
    }
    ignore_rules(&mine, ignore);
    if (strict)
        rb_diags_promote_warnings(&mine);
    rb_diags_sort(&mine);
    size_t errors = mine.errors;
    /* Move this file's diagnostics into the caller's list. */
    for (size_t i = 0; i < mine.count; i++) {
        rb_diag *g = &mine.items[i];
        rb_diag_add(d, g->sev, g->rule, g->file, g->line, g->col, g->source_line,
                    g->source_line ? strlen(g->source_line) : 0, "%s", g->message);
        if (g->hint)
            rb_diag_hint(d, "%s", g->hint);
        if (g->waived)
            rb_diag_waive(d, d->count - 1, g->waived, g->waived_external);
    }
    d->dropped += mine.dropped;
    rb_diags_cleanup(&mine);
    return errors;
}

void cli_loaded_free(cli_loaded *l)
{
    if (l->rb)
        rb_graph_cleanup(&l->graph);
    rb_runbook_free(l->rb);
    memset(l, 0, sizeof *l);
}

rb_catalog *cli_catalog(void) { return rb_catalog_from_path(getenv("RUNBOOK_PATH")); }

char *cli_resolve(const char *arg, rb_catalog *cat)
{
    struct stat st;
    if (strchr(arg, '/') || strstr(arg, ".yaml") || strstr(arg, ".yml"))
        return stat(arg, &st) == 0 && S_ISREG(st.st_mode) ? strdup(arg) : NULL;
    return rb_catalog_find(cat, arg, NULL);
}

int cli_open_runbook(const char *arg, rb_catalog *cat, cli_loaded *out)
{
    memset(out, 0, sizeof *out);
    char *path = cli_resolve(arg, cat);
    if (!path) {
        rb_showf(stderr, NULL, "runbook: no runbook '%s' (not a file, and not found on RUNBOOK_PATH=%s)\n", arg,
                getenv("RUNBOOK_PATH") ? getenv("RUNBOOK_PATH") : "./runbooks");
        return EXIT_USAGE;
    }
    rb_diags d;
    rb_diags_init(&d);
    size_t errors = cli_load_checked(path, cat, 0, &d, out);
    free(path);
    rb_diags_sort(&d);
    rb_diags_print_text(&d, stderr, cli_use_color(stderr));
    rb_diags_cleanup(&d);
    if (errors || !out->rb || !out->graph_ok) {
        rb_showf(stderr, NULL, "runbook: '%s' is not valid; nothing was done\n", arg);
        cli_loaded_free(out);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cli_sets_add(cli_sets *s, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return -1;
    char **names = realloc(s->names, (s->count + 1) * sizeof *names);
    if (names)
        s->names = names;
    char **values = realloc(s->values, (s->count + 1) * sizeof *values);
    if (values)
        s->values = values;
    if (!names || !values)
        return -1;
    s->names[s->count] = strndup(kv, (size_t)(eq - kv));
    s->values[s->count] = strdup(eq + 1);
    s->count++;
    return 0;
}

void cli_sets_free(cli_sets *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->names[i]);
        free(s->values[i]);
    }
    free(s->names);
    free(s->values);
    memset(s, 0, sizeof *s);
}

const char *cli_sets_get(const cli_sets *s, const char *name)
{
    for (size_t i = s->count; i-- > 0;)
        if (!strcmp(s->names[i], name))
            return s->values[i];
    return NULL;
}

int cli_sets_check(const cli_sets *s, const rb_runbook *rb)
{
    int bad = 0;
    for (size_t i = 0; i < s->count; i++) {
        const rb_input *in = rb_runbook_input(rb, s->names[i]);
        char err[200];
        if (!in) {
            rb_showf(stderr, NULL, "runbook: --set %s: runbook '%s' has no input '%s'\n", s->names[i], rb->name,
                    s->names[i]);
            const char *names[65] = {0};
            for (size_t k = 0; k < rb->ninputs && k < 64; k++)
                names[k] = rb->inputs[k].name;
            const char *hint = rb_suggest(s->names[i], names);
            if (hint)
                rb_showf(stderr, NULL, "  hint: did you mean '%s'?\n", hint);
            bad = 1;
        } else if (rb_input_check(in, s->values[i], err, sizeof err) != 0) {
            rb_showf(stderr, NULL, "runbook: --set %s: %s (input '%s' is of type %s)\n", s->names[i], err, in->name,
                    rb_input_type_name(in->type));
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}
