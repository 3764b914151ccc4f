/* runbook graph: the step graph as Graphviz dot or a Mermaid flowchart. */
#include <string.h>

#include "cli.h"
#include "runbook/show.h"

static const cli_opt graph_opts[] = {
    {"format", "FORMAT", "dot (default) or mermaid", .choices = "dot mermaid"},
    {NULL, NULL, NULL},
};

const cli_command cli_graph = {"graph", "graph NAME|FILE [--format dot|mermaid]",
                               "Print the step graph (dependencies after the implicit order and needs).",
                               graph_opts, cmd_graph, "runbooks"};

/* Labels are the runbook author's text: escape what would end the quoted string, and show
 * control characters visibly (rb_show) between those. */
static void put_escaped(const char *s, const char *bad, FILE *out)
{
    const char *run = s;
    for (; s && *s; s++) {
        if (*s != '\n' && !strchr(bad, *s))
            continue;
        rb_show(out, NULL, run, (size_t)(s - run));
        if (*s == '\n')
            fputs(" ", out);
        else
            rb_showf(out, NULL, "#%d;", (unsigned char)*s);
        run = s + 1;
    }
    if (run)
        rb_show(out, NULL, run, strlen(run));
}

/* A dot label: quotes and backslashes escaped, newlines made spaces, the rest shown visibly. */
static void put_dot_label(const char *s, FILE *out)
{
    const char *run = s;
    for (; *s; s++) {
        if (*s != '\n' && *s != '"' && *s != '\\')
            continue;
        rb_show(out, NULL, run, (size_t)(s - run));
        if (*s == '\n')
            fputc(' ', out);
        else
            fprintf(out, "\\%c", *s);
        run = s + 1;
    }
    rb_show(out, NULL, run, strlen(run));
}

static void print_dot(const rb_runbook *rb, const rb_graph *g)
{
    rb_showf(stdout, NULL, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"sans-serif\"];\n", rb->name);
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        rb_showf(stdout, NULL, "  s%zu [label=\"%s", i, s->id);
        if (s->title) {
            fputs("\\n", stdout);
            put_dot_label(s->title, stdout);
        }
        rb_showf(stdout, NULL, "\"%s];\n", s->confirm ? ", style=rounded" : "");
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->ndeps[i]; k++)
            rb_showf(stdout, NULL, "  s%zu -> s%zu;\n", g->deps[i][k], i);
    puts("}");
}

static void print_mermaid(const rb_runbook *rb, const rb_graph *g)
{
    puts("flowchart TD");
    for (size_t i = 0; i < rb->nsteps; i++) {
        const rb_step *s = &rb->steps[i];
        rb_showf(stdout, NULL, "  s%zu[\"", i);
        put_escaped(s->id, "\"", stdout);
        if (s->title) {
            fputs(": ", stdout);
            put_escaped(s->title, "\"<>", stdout);
        }
        puts("\"]");
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->ndeps[i]; k++)
            rb_showf(stdout, NULL, "  s%zu --> s%zu\n", g->deps[i][k], i);
}

static int on_opt(int opt, const char *arg, void *ctx)
{
    int *mermaid = ctx;
    if (!strcmp(arg, "mermaid"))
        *mermaid = 1;
    else if (strcmp(arg, "dot"))
        return cli_usage_error(&cli_graph, "unknown format '%s' (dot, mermaid)", arg);
    return 0;
}

int cmd_graph(int argc, char **argv)
{
    int mermaid = 0, npos;
    char **pos;
    int rc = cli_parse(&cli_graph, argc, argv, on_opt, &mermaid, &pos, &npos);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (npos != 1)
        return cli_usage_error(&cli_graph, "name one runbook");
    rb_catalog *cat = cli_catalog();
    cli_loaded l;
    rc = cli_open_runbook(pos[0], cat, &l);
    if (rc == EXIT_OK) {
        if (mermaid)
            print_mermaid(l.rb, &l.graph);
        else
            print_dot(l.rb, &l.graph);
        cli_loaded_free(&l);
    }
    rb_catalog_free(cat);
    return rc;
}
