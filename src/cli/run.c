/* runbook run and runbook resume: inputs from --set or the terminal, then the executor with
 * the terminal UI; the exit code says how the run ended. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/journal.h"
#include "runbook/show.h"
#include "runbook/values.h"
#include "ui.h"

static const cli_opt run_opts[] = {
    {"set", "NAME=VALUE", "give an input", .flags = CLI_REPEAT, .complete = "inputs"},
    {"yes", NULL, "answer yes to every confirmation (journaled as --yes, not a person)", .short_name = 'y'},
    {"jobs", "N", "run up to N steps at once (default 1)"},
    {"dry-run", NULL, "run read steps for real, show write steps with their dry_run outputs"},
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)", .complete = "dirs"},
    {"quiet", NULL, "show only failures and the summary", .short_name = 'q', .conflicts = "verbose"},
    {"verbose", NULL, "show more detail", .short_name = 'v'},
    {"yes-manual", NULL, "with --yes, also mark manual steps done (journaled as --yes-manual)"},
    {"from", "STEP", "start at STEP: the steps before it in the run order are skipped (journaled)"},
    {"outputs-from", "RUN", "with --from: the skipped steps' outputs come from this earlier run", .complete = "runs"},
    {"timestamps", NULL, "start every line with the local time (ISO 8601, milliseconds)"},
    CLI_OPT_COLOR,
    {NULL, NULL, NULL},
};

const cli_command cli_run = {
    "run", "run NAME|FILE [--set k=v]... [--yes [--yes-manual]] [--jobs N] [--dry-run] [--from STEP [--outputs-from RUN]] [--state-dir DIR] [--quiet|--verbose] [--timestamps]",
    "Run a runbook, journaling every step so an interrupted run can be resumed.", run_opts, cmd_run,
    "runbooks"};

static const cli_opt resume_opts[] = {
    {"yes", NULL, "answer yes to every confirmation", .short_name = 'y'},
    {"rerun-in-doubt", NULL, "run again the steps that started and never ended"},
    {"force", NULL, "resume even though the runbook changed since the run started"},
    {"jobs", "N", "run up to N steps at once (default 1)"},
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)", .complete = "dirs"},
    {"quiet", NULL, "show only failures and the summary", .short_name = 'q'},
    {"yes-manual", NULL, "with --yes, also mark manual steps done"},
    {"mark-done", "STEP", "STEP (in doubt or failed) was done by hand: take it as succeeded, without outputs",
     .flags = CLI_REPEAT},
    {"reason", "TEXT", "with --mark-done: why, journaled with your user name"},
    {"retry-failed", NULL, "also resume a failed run: its failed step runs again, finished steps do not"},
    {"timestamps", NULL, "start every line with the local time (ISO 8601, milliseconds)"},
    CLI_OPT_COLOR,
    {NULL, NULL, NULL},
};

const cli_command cli_resume = {"resume", "resume RUN|last|NAME [--yes] [--rerun-in-doubt] [--retry-failed] [--mark-done STEP --reason TEXT]... [--force] [--state-dir DIR] [--timestamps]",
                                "Continue an interrupted or failed run from its journal.", resume_opts, cmd_resume,
                                "runs"};

#define MARKS_MAX 64

typedef struct run_args {
    cli_sets sets;
    rb_exec_opts o;
    ui_state *ui;
    char *state_dir;
    const char *marks[MARKS_MAX]; /* --mark-done */
    const char *outputs_from;     /* --outputs-from as typed: resolved once the state folder is known */
    char run_id[RB_RUN_ID_MAX];   /* --outputs-from resolved */
} run_args;

static int parse_jobs(const char *arg, int *jobs, const cli_command *cmd)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n < 1 || n > 256)
        return cli_usage_error(cmd, "--jobs takes a number from 1 to 256, not '%s'", arg);
    *jobs = (int)n;
    return 0;
}

static int on_run_opt(int opt, const char *arg, void *ctx)
{
    run_args *a = ctx;
    switch (opt) {
    case 0:
        return cli_sets_add(&a->sets, arg) == 0 ? 0 : cli_usage_error(&cli_run, "--set takes NAME=VALUE, not '%s'", arg);
    case 1:
        a->o.yes = 1;
        return 0;
    case 2:
        return parse_jobs(arg, &a->o.jobs, &cli_run);
    case 3:
        a->o.dry_run = 1;
        return 0;
    case 4:
        free(a->state_dir);
        a->state_dir = strdup(arg);
        return 0;
    case 5:
        a->ui->quiet = 1;
        return 0;
    case 6:
        a->ui->verbose = 1;
        a->o.verbose = 1;
        return 0;
    case 7:
        a->o.yes_manual = 1;
        return 0;
    case 8:
        a->o.from_step = arg;
        return 0;
    case 9:
        a->outputs_from = arg;
        return 0;
    default:
        a->ui->timestamps = 1;
        return 0;
    }
}

static int add_mark(run_args *a, const char *step)
{
    if (a->o.nmark_done >= MARKS_MAX)
        return cli_usage_error(&cli_resume, "at most %d --mark-done", MARKS_MAX);
    a->marks[a->o.nmark_done++] = step;
    a->o.mark_done = a->marks;
    return 0;
}

static int on_resume_opt(int opt, const char *arg, void *ctx)
{
    run_args *a = ctx;
    switch (opt) {
    case 0:
        a->o.yes = 1;
        return 0;
    case 1:
        a->o.rerun_in_doubt = 1;
        return 0;
    case 2:
        a->o.force = 1;
        return 0;
    case 3:
        return parse_jobs(arg, &a->o.jobs, &cli_resume);
    case 4:
        free(a->state_dir);
        a->state_dir = strdup(arg);
        return 0;
    case 5:
        a->ui->quiet = 1;
        return 0;
    case 6:
        a->o.yes_manual = 1;
        return 0;
    case 7:
        return add_mark(a, arg);
    case 8:
        if (a->o.mark_reason)
            return cli_usage_error(&cli_resume, "--reason is given once, for every --mark-done");
        a->o.mark_reason = arg;
        return 0;
    case 9:
        a->o.retry_failed = 1;
        return 0;
    default:
        a->ui->timestamps = 1;
        return 0;
    }
}

/* A required input with no --set is asked for on a terminal, with its description and type. */
static int ask_missing(cli_sets *sets, const rb_runbook *rb)
{
    for (size_t i = 0; i < rb->ninputs; i++) {
        const rb_input *in = &rb->inputs[i];
        if (in->def || cli_sets_get(sets, in->name))
            continue;
        if (!ui_terminal()) {
            rb_showf(stderr, NULL, "runbook: input '%s' is required (%s%s%s): give it with --set %s=VALUE\n", in->name,
                    rb_input_type_name(in->type), in->description ? ", " : "", in->description ? in->description : "",
                    in->name);
            return EXIT_USAGE;
        }
        for (;;) {
            char line[1024], err[200], kv[1200];
            rb_showf(stderr, NULL, "%s (%s)%s%s: ", in->name, rb_input_type_name(in->type), in->description ? " — " : "",
                    in->description ? in->description : "");
            if (!fgets(line, sizeof line, stdin))
                return EXIT_USAGE;
            line[strcspn(line, "\r\n")] = 0;
            if (rb_input_check(in, line, err, sizeof err) == 0) {
                snprintf(kv, sizeof kv, "%s=%s", in->name, line);
                cli_sets_add(sets, kv);
                break;
            }
            rb_showf(stderr, NULL, "  %s\n", err);
        }
    }
    return EXIT_OK;
}

static const char *get_set(void *ctx, const char *name) { return cli_sets_get(ctx, name); }

/* A called runbook refused as invalid before the run: its errors, as validate prints them. */
static void print_callee_diags(rb_diags *d)
{
    rb_diags_sort(d);
    rb_diags_print_text(d, stderr, cli_use_color(stderr));
    rb_diags_cleanup(d);
}

/* The run's message, masked with what the run knew (its secrets, its secret captures). A run
 * that never started (no run id) has no summary line from the UI, so its refusal is shown here. */
static int finish(const run_args *a, const rb_run_result *res)
{
    if ((res->exit_code == EXIT_USAGE || (res->exit_code && !*res->run_id)) && *res->message)
        rb_showf(stderr, a->o.masker, "runbook: %s\n", res->message);
    return res->exit_code;
}

static void setup(run_args *a, ui_state *ui)
{
    ui_init(ui, stdout, 1);
    a->ui = ui;
    a->o.jobs = 1;
    a->o.ui = (rb_exec_ui){ui, ui_event, ui_ask};
    a->o.can_ask = ui_terminal();
}

/* --outputs-from names a run as every RUN does (last, a prefix, a runbook's name). */
static int resolve_outputs_from(run_args *a)
{
    if (!a->outputs_from)
        return EXIT_OK;
    if (!a->o.from_step)
        return cli_usage_error(&cli_run, "--outputs-from goes with --from STEP");
    int rc = cli_run_id(a->o.state_dir, a->outputs_from, "run", a->run_id, sizeof a->run_id);
    a->o.outputs_from = a->run_id;
    return rc;
}

static int start(run_args *a, const char *name)
{
    if (resolve_outputs_from(a) != EXIT_OK)
        return EXIT_USAGE;
    rb_catalog *cat = cli_catalog();
    cli_loaded l;
    int rc = cli_open_runbook(name, cat, &l);
    if (rc != EXIT_OK) {
        rb_catalog_free(cat);
        return rc;
    }
    rc = cli_sets_check(&a->sets, l.rb) != 0 ? EXIT_USAGE : ask_missing(&a->sets, l.rb);
    if (rc == EXIT_OK) {
        json_t *inputs = rb_inputs_object(l.rb, get_set, &a->sets);
        a->o.catalog = cat;
        a->ui->rto_ms = l.rb->rto_ms;
        rb_run_result res;
        rb_diags callee_diags;
        rb_diags_init(&callee_diags);
        a->o.diags = &callee_diags;
        rb_exec_install_signals();
        rb_exec_run(l.rb, &l.graph, inputs, &a->o, &res);
        print_callee_diags(&callee_diags);
        rc = finish(a, &res);
        if (a->o.from_step && res.exit_code == EXIT_USAGE && !*res.run_id)
            rb_showf(stderr, NULL, "runbook run: nothing was run\n");
        json_decref(inputs);
    }
    cli_loaded_free(&l);
    rb_catalog_free(cat);
    return rc;
}

/* run and resume share their set-up: options into run_args, one positional argument. */
static int run_command(const cli_command *cmd, int argc, char **argv,
                       int (*on_opt)(int, const char *, void *), const char *what,
                       int (*act)(run_args *, const char *))
{
    run_args a = {0};
    ui_state *ui = malloc(sizeof *ui);
    if (!ui)
        return EXIT_FAILED;
    setup(&a, ui);
    a.o.masker = rb_masker_new();
    ui->masker = a.o.masker;
    if (!a.o.masker) {
        ui_cleanup(ui);
        free(ui);
        return EXIT_FAILED;
    }
    char **pos;
    int npos, rc = cli_parse(cmd, argc, argv, on_opt, &a, &pos, &npos);
    if (rc == 0 && npos != 1)
        rc = cli_usage_error(cmd, "%s", what);
    ui->color = cli_use_color(stdout); /* after --color */
    if (rc == 0) {
        a.o.state_dir = a.state_dir ? a.state_dir : (a.state_dir = rb_exec_default_state_dir());
        ui->tk.on &= !ui->quiet;
        ui->show_ids = a.o.jobs > 1;
        rc = act(&a, pos[0]);
    }
    ui_cleanup(ui);
    cli_sets_free(&a.sets);
    free(a.state_dir);
    free(ui);
    rb_masker_free(a.o.masker);
    return rc < 0 ? EXIT_OK : rc;
}

int cmd_run(int argc, char **argv)
{
    return run_command(&cli_run, argc, argv, on_run_opt, "name one runbook", start);
}

static int resume(run_args *a, const char *arg)
{
    char err[300], run_id[RB_RUN_ID_MAX];
    if (!!a->o.nmark_done != !!a->o.mark_reason)
        return cli_usage_error(&cli_resume, "%s", a->o.nmark_done ? "--mark-done needs --reason TEXT: why you take the "
                               "step as done (journaled with your user name)" : "--reason goes with --mark-done STEP");
    if (cli_run_id(a->o.state_dir, arg, "resume", run_id, sizeof run_id) != EXIT_OK)
        return EXIT_USAGE;
    char *path = rb_exec_resume_path(a->o.state_dir, run_id, err, sizeof err);
    if (!path) {
        rb_showf(stderr, NULL, "runbook resume: %s\n", err);
        return EXIT_USAGE;
    }
    rb_catalog *cat = cli_catalog();
    cli_loaded l;
    int rc = cli_open_runbook(path, cat, &l);
    free(path);
    if (rc == EXIT_OK) {
        a->o.catalog = cat;
        a->ui->rto_ms = l.rb->rto_ms;
        rb_run_result res;
        rb_diags callee_diags;
        rb_diags_init(&callee_diags);
        a->o.diags = &callee_diags;
        rb_exec_install_signals();
        rb_exec_resume(l.rb, &l.graph, run_id, &a->o, &res);
        print_callee_diags(&callee_diags);
        if (res.exit_code != 0 && *res.message && res.exit_code != 130)
            rb_showf(stderr, a->o.masker, "runbook resume: %s\n", res.message);
        rc = res.exit_code;
        cli_loaded_free(&l);
    }
    rb_catalog_free(cat);
    return rc;
}

int cmd_resume(int argc, char **argv)
{
    return run_command(&cli_resume, argc, argv, on_resume_opt, "name one run id (see 'runbook runs')", resume);
}
