/* runbook runs and runbook journal: what the journals say about past and current runs. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/expr.h"
#include "runbook/exec.h"
#include "runbook/journal.h"
#include "runbook/show.h"

static const cli_opt runs_opts[] = {
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)"},
    {NULL, NULL, NULL},
};

const cli_command cli_runs = {"runs", "runs [--state-dir DIR]",
                              "List runs: id, runbook, start, status, duration against the RTO.", runs_opts, cmd_runs};

static const cli_opt journal_opts[] = {
    {"format", "FORMAT", "text (default) or json"},
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)"},
    {NULL, NULL, NULL},
};

const cli_command cli_journal = {"journal", "journal RUN [--format text|json] [--state-dir DIR]",
                                 "Show one run's journal.", journal_opts, cmd_journal};

typedef struct jargs {
    char *state_dir;
    int json;
} jargs;

static int on_opt(int opt, const char *arg, void *ctx)
{
    jargs *a = ctx;
    if (opt == 0 && ctx && a->json >= 0 && strcmp(arg, "text") && strcmp(arg, "json"))
        return cli_usage_error(&cli_journal, "unknown format '%s' (text, json)", arg);
    if (opt == 0 && a->json >= 0) {
        a->json = !strcmp(arg, "json");
        return 0;
    }
    free(a->state_dir);
    a->state_dir = strdup(arg);
    return 0;
}

/* The RTO a run was measured against, from its first record. */
static int first_record(json_t *rec, void *ud)
{
    *(long long *)ud = json_integer_value(json_object_get(rec, "rto_ms"));
    return 1;
}

static void print_run(const char *state, const rb_run_summary *s)
{
    char dur[32] = "-", rto[64] = "", *path = rb_journal_path_of(state, s->run_id);
    long long rto_ms = 0;
    if (path)
        rb_journal_read(path, first_record, &rto_ms, NULL);
    free(path);
    if (s->duration_ms >= 0)
        rb_duration_format(s->duration_ms / 1000 * 1000, dur, sizeof dur);
    if (s->duration_ms >= 0 && !strcmp(dur, "0s"))
        snprintf(dur, sizeof dur, "%lldms", (long long)s->duration_ms);
    if (rto_ms > 0) {
        char r[32];
        rb_duration_format(rto_ms, r, sizeof r);
        snprintf(rto, sizeof rto, "%s RTO %s", s->duration_ms <= rto_ms ? "within" : "OVER", r);
    }
    char status[64]; /* a dry run's "succeeded" changed nothing: never to be read as a real one */
    snprintf(status, sizeof status, "%s%s", s->status, s->dry_run ? " (dry run)" : "");
    rb_showf(stdout, NULL, "%-44s %-22s %-24s %-20s %-8s %s\n", s->run_id, s->runbook, s->started, status, dur, rto);
}

int cmd_runs(int argc, char **argv)
{
    jargs a = {NULL, -1};
    char **pos;
    int npos, rc = cli_parse(&cli_runs, argc, argv, on_opt, &a, &pos, &npos);
    if (rc == 0 && npos)
        rc = cli_usage_error(&cli_runs, "takes no arguments");
    char *state = a.state_dir ? a.state_dir : rb_exec_default_state_dir();
    rb_run_summary *runs = NULL;
    size_t n = 0;
    if (rc == 0 && rb_journal_list(state, &runs, &n) != 0) {
        rb_showf(stderr, NULL, "runbook runs: cannot list %s\n", state);
        rc = EXIT_FAILED;
    }
    if (rc == 0) {
        rb_showf(stdout, NULL, "%-44s %-22s %-24s %-20s %-8s %s\n", "RUN", "RUNBOOK", "STARTED", "STATUS", "TIME", "");
        for (size_t i = 0; i < n; i++)
            print_run(state, &runs[i]);
    }
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
    char *path = rc == 0 ? rb_journal_path_of(state, pos[0]) : NULL;
    json_t *records = NULL;
    rb_journal_read_info info = {0};
    if (rc == 0 && (!path || rb_journal_load(path, &records, &info) != RB_JOURNAL_OK)) {
        rb_showf(stderr, NULL, "runbook journal: cannot read the journal of '%s'%s%s\n", pos[0], *info.message ? ": " : "",
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
