/* runbook runs and runbook journal: what the journals say about past and current runs. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/expr.h"
#include "runbook/exec.h"
#include "runbook/journal.h"
#include "runbook/show.h"

static const cli_opt runs_opts[] = {
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)", .complete = "dirs"},
    {"limit", "N", "only the newest N runs (after the filters)"},
    {"runbook", "NAME", "only the runs of this runbook", .complete = "runbooks"},
    {"status", "STATUS", "only runs that ended so (succeeded, failed, rolled_back, running, interrupted, ...)"},
    {"format", "FORMAT", "text (default) or json: an array of {id, runbook, status, started, duration_ms, ...}",
     .choices = "text json"},
    {NULL, NULL, NULL},
};

const cli_command cli_runs = {"runs", "runs [--limit N] [--runbook NAME] [--status STATUS] [--format text|json] [--state-dir DIR]",
                              "List runs: id, runbook, start, status, duration against the RTO.", runs_opts, cmd_runs};

static const cli_opt journal_opts[] = {
    {"format", "FORMAT", "text (default) or json", .choices = "text json"},
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)", .complete = "dirs"},
    {NULL, NULL, NULL},
};

const cli_command cli_journal = {"journal", "journal RUN|last|NAME [--format text|json] [--state-dir DIR]",
                                 "Show one run's journal.", journal_opts, cmd_journal, "runs"};

typedef struct jargs {
    char *state_dir;
    int json;
} jargs;

static int on_opt(int opt, const char *arg, void *ctx)
{
    jargs *a = ctx;
    if (opt == 0 && strcmp(arg, "text") && strcmp(arg, "json"))
        return cli_usage_error(&cli_journal, "unknown format '%s' (text, json)", arg);
    if (opt == 0) {
        a->json = !strcmp(arg, "json");
        return 0;
    }
    free(a->state_dir);
    a->state_dir = strdup(arg);
    return 0;
}

/* What the list adds from a run's first record: the RTO it was measured against, and whether
 * it was a dry run. */
typedef struct first_facts {
    long long rto_ms;
    int dry_run;
} first_facts;

static int first_record(json_t *rec, void *ud)
{
    first_facts *f = ud;
    f->rto_ms = json_integer_value(json_object_get(rec, "rto_ms"));
    f->dry_run = json_is_true(json_object_get(rec, "dry_run"));
    return 1;
}

static first_facts facts_of(const char *state, const rb_run_summary *s)
{
    first_facts f = {0, 0};
    char *path = rb_journal_path_of(state, s->run_id);
    if (path)
        rb_journal_read(path, first_record, &f, NULL);
    free(path);
    return f;
}

static void print_run(const char *state, const rb_run_summary *s)
{
    char dur[32] = "-", rto[64] = "";
    first_facts f = facts_of(state, s);
    if (s->duration_ms >= 0)
        rb_duration_format(s->duration_ms / 1000 * 1000, dur, sizeof dur);
    if (s->duration_ms >= 0 && !strcmp(dur, "0s"))
        snprintf(dur, sizeof dur, "%lldms", (long long)s->duration_ms);
    if (f.rto_ms > 0) {
        char r[32];
        rb_duration_format(f.rto_ms, r, sizeof r);
        snprintf(rto, sizeof rto, "%s RTO %s", s->duration_ms <= f.rto_ms ? "within" : "OVER", r);
    }
    char status[64]; /* a dry run's "succeeded" changed nothing: never to be read as a real one */
    snprintf(status, sizeof status, "%s%s", s->status, s->dry_run ? " (dry run)" : "");
    rb_showf(stdout, NULL, "%-44s %-22s %-24s %-20s %-8s %s\n", s->run_id, s->runbook, s->started, status, dur, rto);
}

static json_t *run_json(const char *state, const rb_run_summary *s)
{
    first_facts f = facts_of(state, s);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "id", s->run_id, "runbook", s->runbook, "status", s->status,
                          "started", s->started, "dry_run", f.dry_run, "torn_tail", s->torn_tail);
    json_object_set_new(o, "duration_ms", s->duration_ms >= 0 ? json_integer(s->duration_ms) : json_null());
    json_object_set_new(o, "rto_ms", f.rto_ms > 0 ? json_integer(f.rto_ms) : json_null());
    return o;
}

typedef struct runs_args {
    char *state_dir;
    const char *runbook, *status;
    long limit;
    int json;
} runs_args;

/* The statuses a run can have (rb_run_summary), so a misspelt filter is refused, not empty. */
static const char *const statuses[] = {"succeeded", "failed", "rolled_back", "rollback_incomplete", "cancelled",
                                       "running", "interrupted", "corrupt", "unreadable", NULL};

static int known_status(const char *s)
{
    for (size_t i = 0; statuses[i]; i++)
        if (!strcmp(s, statuses[i]))
            return 1;
    return 0;
}

static int on_runs_opt(int opt, const char *arg, void *ctx)
{
    runs_args *a = ctx;
    char *end;
    switch (opt) {
    case 0:
        free(a->state_dir);
        a->state_dir = strdup(arg);
        return 0;
    case 1:
        a->limit = strtol(arg, &end, 10);
        return *arg && !*end && a->limit >= 1 ? 0 : cli_usage_error(&cli_runs, "--limit takes a number of runs from 1, not '%s'", arg);
    case 2:
        a->runbook = arg;
        return 0;
    case 3:
        a->status = arg;
        return known_status(arg) ? 0 : cli_usage_error(&cli_runs, "unknown status '%s' (succeeded, failed, rolled_back, "
                                                       "rollback_incomplete, cancelled, running, interrupted, corrupt, unreadable)", arg);
    default:
        if (strcmp(arg, "text") && strcmp(arg, "json"))
            return cli_usage_error(&cli_runs, "unknown format '%s' (text, json)", arg);
        a->json = !strcmp(arg, "json");
        return 0;
    }
}

/* Keeps the runs the filters let through, in place, then the newest `limit` of them. */
static size_t filter_runs(const runs_args *a, rb_run_summary *runs, size_t n, size_t *first)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if ((!a->runbook || !strcmp(runs[i].runbook, a->runbook)) && (!a->status || !strcmp(runs[i].status, a->status)))
            runs[kept++] = runs[i];
    *first = a->limit > 0 && (size_t)a->limit < kept ? kept - (size_t)a->limit : 0;
    return kept;
}

static void print_runs(const runs_args *a, const char *state, const rb_run_summary *runs, size_t from, size_t n)
{
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = from; i < n; i++)
            json_array_append_new(arr, run_json(state, &runs[i]));
        json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        putchar('\n');
        json_decref(arr);
        return;
    }
    rb_showf(stdout, NULL, "%-44s %-22s %-24s %-20s %-8s %s\n", "RUN", "RUNBOOK", "STARTED", "STATUS", "TIME", "");
    for (size_t i = from; i < n; i++)
        print_run(state, &runs[i]);
}

int cmd_runs(int argc, char **argv)
{
    runs_args a = {0};
    char **pos;
    int npos, rc = cli_parse(&cli_runs, argc, argv, on_runs_opt, &a, &pos, &npos);
    if (rc == 0 && npos)
        rc = cli_usage_error(&cli_runs, "takes no arguments");
    char *state = a.state_dir ? a.state_dir : rb_exec_default_state_dir();
    rb_run_summary *runs = NULL;
    size_t n = 0, from = 0;
    if (rc == 0 && rb_journal_list(state, &runs, &n) != 0) {
        rb_showf(stderr, NULL, "runbook runs: cannot list %s\n", state);
        rc = EXIT_FAILED;
    }
    if (rc == 0)
        print_runs(&a, state, runs, from, filter_runs(&a, runs, n, &from));
    free(runs);
    free(state);
    return rc < 0 ? EXIT_OK : rc;
}

static void print_record(json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *ts = json_string_value(json_object_get(rec, "ts"));
    rb_showf(stdout, NULL, "%s  %-14s", ts ? ts : "?", type ? type : "?");
    const char *key;
    json_t *v;
    json_object_foreach(rec, key, v)
    {
        if (!strcmp(key, "type") || !strcmp(key, "ts") || !strcmp(key, "seq"))
            continue;
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        const char *shown = text ? text : json_string_value(v);
        rb_showf(stdout, NULL, " %s=%.*s%s", key, 200, shown ? shown : "", shown && strlen(shown) > 200 ? "…" : "");
        free(text);
    }
    putchar('\n');
}

int cmd_journal(int argc, char **argv)
{
    jargs a = {NULL, 0};
    char **pos;
    int npos, rc = cli_parse(&cli_journal, argc, argv, on_opt, &a, &pos, &npos);
    if (rc == 0 && npos != 1)
        rc = cli_usage_error(&cli_journal, "name one run id (see 'runbook runs')");
    char *state = a.state_dir ? a.state_dir : rb_exec_default_state_dir();
    char id[RB_RUN_ID_MAX];
    if (rc == 0)
        rc = cli_run_id(state, pos[0], "journal", id, sizeof id);
    char *path = rc == 0 ? rb_journal_path_of(state, id) : NULL;
    json_t *records = NULL;
    rb_journal_read_info info = {0};
    if (rc == 0 && (!path || rb_journal_load(path, &records, &info) != RB_JOURNAL_OK)) {
        rb_showf(stderr, NULL, "runbook journal: cannot read the journal of '%s'%s%s\n", id, *info.message ? ": " : "",
                info.message);
        rc = path && info.records ? EXIT_FAILED : EXIT_USAGE; /* no such run is a usage error */
    }
    if (rc == 0 && !a.json && json_is_true(json_object_get(json_array_get(records, 0), "dry_run")))
        rb_showf(stdout, NULL, "DRY RUN: write steps were not run; nothing was changed\n");
    if (rc == 0) {
        size_t i;
        json_t *rec;
        json_array_foreach(records, i, rec)
        {
            if (a.json)
                json_dumpf(rec, stdout, JSON_COMPACT | JSON_ENSURE_ASCII), putchar('\n');
            else
                print_record(rec);
        }
        if (info.torn_tail)
            rb_showf(stderr, NULL, "note: the last record was torn (the run was killed while writing it) and is ignored\n");
    }
    json_decref(records);
    free(path);
    free(state);
    return rc < 0 ? EXIT_OK : rc;
}
