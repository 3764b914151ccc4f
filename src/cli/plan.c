/* runbook plan: the static preview. Touches nothing; resolves what inputs and defaults decide,
 * marks what only a run can decide, and with --simulate shows the path a failure takes. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plan_print.h"
#include "plan_totals.h"
#include "runbook/show.h"

static const cli_opt plan_opts[] = {
    {"set", "NAME=VALUE", "give an input; checked against its declared type", .flags = CLI_REPEAT, .complete = "inputs"},
    {"simulate", "STEP=fail", "show what happens when STEP fails: what stops, what is rolled back", .conflicts = "format"},
    {"format", "FORMAT", "text (default) or json (the steps, totals and refusals, for tools)", .choices = "text json"},
    CLI_OPT_COLOR,
    {NULL, NULL, NULL},
};

const cli_command cli_plan = {"plan", "plan NAME|FILE [--set k=v]... [--simulate STEP=fail | --format text|json] [--color WHEN]",
                              "Preview a runbook without running anything.", plan_opts, cmd_plan, "runbooks"};

typedef struct plan_args {
    cli_sets sets;
    const char *simulate;
    int json;
} plan_args;

static int on_opt(int opt, const char *arg, void *ctx)
{
    plan_args *a = ctx;
    if (opt == 0 && cli_sets_add(&a->sets, arg) != 0)
        return cli_usage_error(&cli_plan, "--set takes NAME=VALUE, not '%s'", arg);
    if (opt == 1)
        a->simulate = arg;
    if (opt == 2 && strcmp(arg, "text") && strcmp(arg, "json"))
        return cli_usage_error(&cli_plan, "unknown format '%s' (text, json)", arg);
    if (opt == 2)
        a->json = !strcmp(arg, "json");
    return 0;
}

static const char *get_set(void *ctx, const char *name) { return cli_sets_get(ctx, name); }

static json_t *lookup(void *ctx, const char *root)
{
    plan_view *v = ctx;
    if (!strcmp(root, "inputs"))
        return v->inputs;
    if (!strcmp(root, "secrets"))
        return v->secrets;
    if (!strcmp(root, "run"))
        return v->run;
    if (!strcmp(root, "runbook"))
        return v->runbook;
    if (!strcmp(root, "steps") || !strcmp(root, "env") || !strcmp(root, "each"))
        return rb_unknown();
    return NULL;
}

/* Secrets are never read by a plan: each shows as *** wherever it is used. */
static json_t *masked_secrets(const rb_runbook *rb)
{
    json_t *o = json_object();
    for (size_t i = 0; i < rb->nsecrets; i++)
        json_object_set_new(o, rb->secrets[i].name, json_string("***"));
    return o;
}

static long find_simulated(const cli_loaded *l, const char *spec)
{
    const char *eq = strrchr(spec, '=');
    if (!eq || strcmp(eq + 1, "fail")) {
        cli_usage_error(&cli_plan, "--simulate takes STEP=fail, not '%s'", spec);
        return -2;
    }
    char *id = strndup(spec, (size_t)(eq - spec));
    long i = id ? rb_graph_find(&l->graph, id) : -1;
    if (i < 0)
        rb_showf(stderr, NULL, "runbook plan: --simulate: no step '%s' in runbook '%s'\n", id ? id : "", l->rb->name);
    free(id);
    return i < 0 ? -2 : i;
}

/* One step for tools: what the text plan's step header and flags say. */
static json_t *step_json(const plan_view *v, const plan_totals *t, size_t i)
{
    const rb_step *s = &v->rb->steps[i];
    json_t *needs = json_array();
    for (size_t k = 0; k < v->g->ndeps[i]; k++)
        json_array_append_new(needs, json_string(v->rb->steps[v->g->deps[i][k]].id));
    json_t *o = json_pack("{s:s, s:s?, s:s, s:I, s:o, s:b, s:b, s:b, s:s?, s:b, s:b}", "id", s->id, "title", s->title,
                          "action", s->main.action.type ? s->main.action.type->name : "manual", "level",
                          (json_int_t)v->g->level[i], "needs", needs, "writes", s->writes, "irreversible",
                          s->irreversible, "destructive", s->destructive, "confirm", s->confirm,
                          "confirm_by_person", s->confirm_person, "rollback", s->rollback != NULL);
    json_object_set_new(o, "planned_ms", t->step_ms[i] >= 0 ? json_integer(t->step_ms[i]) : json_null());
    return o;
}

/* plan --format json: the runbook, its steps in run order, and the totals (plan_totals_json). */
static int print_json(const plan_view *v, const plan_totals *t)
{
    json_t *steps = json_array();
    for (size_t k = 0; k < v->g->n; k++)
        json_array_append_new(steps, step_json(v, t, v->g->order[k]));
    json_t *root = plan_totals_json(t, v->rb);
    json_object_set_new(root, "runbook", json_string(v->rb->name));
    json_object_set_new(root, "title", v->rb->title ? json_string(v->rb->title) : json_null());
    json_object_set_new(root, "severity", json_string(rb_severity_name(v->rb->severity)));
    json_object_set_new(root, "rto_ms", v->rb->rto_ms >= 0 ? json_integer(v->rb->rto_ms) : json_null());
    json_object_set_new(root, "rpo_ms", v->rb->rpo_ms >= 0 ? json_integer(v->rb->rpo_ms) : json_null());
    json_object_set_new(root, "inputs", json_deep_copy(v->inputs));
    json_object_set_new(root, "steps", steps);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_SORT_KEYS) == 0 ? EXIT_OK : EXIT_FAILED;
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

static int show(cli_loaded *l, plan_args *a)
{
    if (cli_sets_check(&a->sets, l->rb) != 0)
        return EXIT_USAGE;
    plan_view v = {.rb = l->rb, .g = &l->graph, .simulated = -1};
    if (a->simulate && (v.simulated = find_simulated(l, a->simulate)) == -2)
        return EXIT_USAGE;
    v.inputs = rb_inputs_object(l->rb, get_set, &a->sets);
    v.secrets = masked_secrets(l->rb);
    v.run = json_pack("{s:o, s:b}", "id", json_incref(rb_unknown()), "dry_run", 0);
    v.runbook = rb_runbook_object(l->rb);
    v.scope = (rb_scope){lookup, &v, NULL};
    v.out = stdout;
    v.color = cli_use_color(stdout);
    plan_totals t;
    int rc = plan_totals_compute(l->rb, &l->graph, v.inputs, &t) == 0 ? EXIT_OK : EXIT_FAILED;
    if (rc == EXIT_OK && a->json)
        rc = print_json(&v, &t);
    else if (rc == EXIT_OK) {
        plan_print(&v);
        plan_totals_print(&t, l->rb, stdout, v.color);
    }
    plan_totals_cleanup(&t);
    json_decref(v.inputs);
    json_decref(v.secrets);
    json_decref(v.run);
    json_decref(v.runbook);
    return rc;
}

int cmd_plan(int argc, char **argv)
{
    plan_args a = {0};
    char **pos;
    int npos, rc = cli_parse(&cli_plan, argc, argv, on_opt, &a, &pos, &npos);
    if (rc == 0 && npos != 1)
        rc = cli_usage_error(&cli_plan, "name one runbook");
    if (rc) {
        cli_sets_free(&a.sets);
        return rc < 0 ? EXIT_OK : rc;
    }
    rb_catalog *cat = cli_catalog();
    cli_loaded l;
    rc = cli_open_runbook(pos[0], cat, &l);
    if (rc == EXIT_OK) {
        rc = show(&l, &a);
        cli_loaded_free(&l);
    }
    rb_catalog_free(cat);
    cli_sets_free(&a.sets);
    return rc;
}
