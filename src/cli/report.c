/* runbook report: one run, from its journal alone: each step's start, duration, attempts and
 * outcome, the confirmations, the rollbacks, the total against the RTO and the measured figures
 * the runbook declared (report:), as text, JSON or a page (report_html.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "report.h"
#include "runbook/exec.h"
#include "runbook/expr.h"
#include "runbook/journal.h"
#include "runbook/show.h"

static const cli_opt report_opts[] = {
    {"format", "FORMAT", "text (default), json or html", .choices = "text json html"},
    {"state-dir", "DIR", "journals and locks (default $XDG_STATE_HOME/runbook)", .complete = "dirs"},
    {NULL, NULL, NULL},
};

const cli_command cli_report = {"report", "report RUN [--format text|json|html] [--state-dir DIR]",
                                "Report one run from its journal: steps, confirmations, rollbacks, RTO, RPO and figures.",
                                report_opts, cmd_report, "runs"};

/* ---- reading the records ---- */

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static long long num(const json_t *rec, const char *key, long long none)
{
    json_t *v = json_object_get(rec, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : none;
}

/* A journal timestamp ("2026-11-21T23:45:12.345Z") in milliseconds since the epoch, or -1. */
static long long ts_ms(const json_t *rec)
{
    const char *ts = str(rec, "ts");
    struct tm tm = {0};
    int ms = 0, used = 0;
    if (!ts || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 || !used)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (long long)t * 1000 + ms;
}

typedef struct gather {
    rep_report *r;
    long long t0, last; /* the run's start and its last record, wall clock */
} gather;

/* Room for one more item in *arr, which holds n (its capacity is the next power of two). */
static int grow(void *arr, size_t n, size_t size, rep_report *r)
{
    void **a = arr;
    if (n >= REP_ITEMS_MAX) {
        r->truncated = 1;
        return -1;
    }
    if (n && (n & (n - 1)))
        return 0;
    void *p = realloc(*a, (n ? 2 * n : 1) * size);
    if (p)
        *a = p;
    return p ? 0 : -1;
}

static rep_step *find_step(rep_report *r, const char *key)
{
    for (size_t i = r->nsteps; key && i-- > 0;)
        if (!strcmp(r->steps[i].key, key))
            return &r->steps[i];
    return NULL;
}

static rep_step *new_step(gather *g, const char *key, long long start)
{
    rep_report *r = g->r;
    if (grow(&r->steps, r->nsteps, sizeof *r->steps, r) != 0)
        return NULL;
    rep_step *s = &r->steps[r->nsteps++];
    *s = (rep_step){.key = key, .start_ms = start, .dur_ms = -1, .outcome = "unfinished"};
    return s;
}

static void on_step_start(gather *g, json_t *rec, long long at)
{
    const char *key = str(rec, "step");
    rep_step *s = find_step(g->r, key);
    if (!key)
        return;
    if (!s || strcmp(s->outcome, "unfinished")) /* a resume may start a step again */
        s = new_step(g, key, at);
    else
        s->start_ms = at;
}

static void on_step_end(gather *g, json_t *rec, long long at)
{
    const char *key = str(rec, "step");
    rep_step *s = find_step(g->r, key);
    long long dur = num(rec, "duration_ms", 0);
    if (key && (!s || strcmp(s->outcome, "unfinished"))) /* skipped: no step_start */
        s = new_step(g, key, at - dur > 0 ? at - dur : 0);
    if (!s)
        return;
    s->dur_ms = dur;
    s->attempts = num(rec, "attempts", 0);
    s->outcome = str(rec, "outcome") ? str(rec, "outcome") : "?";
    s->message = str(rec, "message");
    s->outputs = json_object_get(rec, "outputs");
}

static void on_confirm(gather *g, json_t *rec, long long at)
{
    rep_report *r = g->r;
    if (grow(&r->confirms, r->nconfirms, sizeof *r->confirms, r) != 0)
        return;
    r->confirms[r->nconfirms++] = (rep_confirm){str(rec, "step"), str(rec, "by"), str(rec, "answer"), str(rec, "user"), at};
}

static void on_rollback(gather *g, json_t *rec, long long at, int end)
{
    rep_report *r = g->r;
    const char *key = str(rec, "step");
    rep_rollback *b = NULL;
    for (size_t i = r->nrollbacks; end && key && i-- > 0;)
        if (!strcmp(r->rollbacks[i].step, key) && !strcmp(r->rollbacks[i].outcome, "unfinished")) {
            b = &r->rollbacks[i];
            break;
        }
    if (!b && key) {
        if (grow(&r->rollbacks, r->nrollbacks, sizeof *r->rollbacks, r) != 0)
            return;
        b = &r->rollbacks[r->nrollbacks++];
        *b = (rep_rollback){key, "unfinished", NULL, at, -1};
    }
    if (!b || !end)
        return;
    b->outcome = str(rec, "outcome") ? str(rec, "outcome") : "?";
    b->message = str(rec, "message");
    b->dur_ms = at - b->start_ms;
    rep_step *s = find_step(r, key);
    if (s)
        s->rollback = b->outcome;
}

static void on_run_start(gather *g, json_t *rec)
{
    rep_report *r = g->r;
    r->runbook = str(rec, "runbook");
    r->started = str(rec, "ts");
    r->rto_ms = num(rec, "rto_ms", -1);
    r->rpo_ms = num(rec, "rpo_ms", -1);
    r->dry_run = json_is_true(json_object_get(rec, "dry_run"));
    json_t *figs = json_object_get(rec, "report");
    size_t n = json_array_size(figs) < 64 ? json_array_size(figs) : 64;
    r->figures = n ? calloc(n, sizeof *r->figures) : NULL;
    for (size_t i = 0; r->figures && i < n; i++) {
        json_t *f = json_array_get(figs, i);
        r->figures[r->nfigures++] = (rep_figure){str(f, "label"), str(f, "step"), str(f, "field"),
                                                 str(f, "objective") ? str(f, "objective") : "none", str(f, "unit"),
                                                 NULL, -1, -1, -1};
    }
}

static void on_record(gather *g, json_t *rec)
{
    const char *type = str(rec, "type");
    long long wall = ts_ms(rec), at = wall >= 0 && g->t0 >= 0 ? wall - g->t0 : 0;
    if (wall > g->last)
        g->last = wall;
    if (!type)
        return;
    if (!strcmp(type, "run_start") && !g->r->runbook) {
        g->t0 = wall;
        on_run_start(g, rec);
    } else if (!strcmp(type, "step_start"))
        on_step_start(g, rec, at);
    else if (!strcmp(type, "step_end"))
        on_step_end(g, rec, at);
    else if (!strcmp(type, "confirm"))
        on_confirm(g, rec, at);
    else if (!strcmp(type, "rollback_start") || !strcmp(type, "rollback_end"))
        on_rollback(g, rec, at, type[9] == 'e');
    else if (!strcmp(type, "resume")) { /* a failed run resumed (--retry-failed) ends again, or not */
        g->r->resumed++;
        g->r->finished = 0;
        g->r->status = NULL;
    }
    else if (!strcmp(type, "run_end")) {
        g->r->finished = 1;
        g->r->status = str(rec, "status");
        g->r->exit_code = num(rec, "exit_code", -1);
        g->r->total_ms = num(rec, "duration_ms", -1);
    }
}

/* ---- what follows from them ---- */

/* Parallel steps side by side: each step goes to the first lane free at its start. */
static void assign_lanes(rep_report *r)
{
    long long ends[REP_LANES_MAX];
    r->lanes = 0;
    for (size_t i = 0; i < r->nsteps; i++) {
        rep_step *s = &r->steps[i];
        long long end = s->start_ms + (s->dur_ms > 0 ? s->dur_ms : 0);
        int lane = 0;
        while (lane < r->lanes && ends[lane] > s->start_ms)
            lane++;
        if (lane == REP_LANES_MAX)
            lane = REP_LANES_MAX - 1;
        if (lane == r->lanes)
            ends[r->lanes++] = end;
        else if (end > ends[lane])
            ends[lane] = end;
        s->lane = lane;
    }
}

/* A number as milliseconds: "1500", 1500, "1.5" with unit s, or a duration with units. */
static long long as_ms(const json_t *v, const char *unit)
{
    double scale = unit && !strcmp(unit, "s") ? 1000.0 : 1.0, d;
    if (json_is_number(v))
        return json_number_value(v) >= 0 ? (long long)(json_number_value(v) * scale + 0.5) : -1;
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char buf[64], *end;
    if (!n || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    d = strtod(buf, &end);
    if (end != buf && !*end && d >= 0 && d < 1e15)
        return (long long)(d * scale + 0.5);
    long long ms;
    return rb_duration_parse(buf, n, &ms) == 0 ? ms : -1;
}

static void read_figure(rep_report *r, rep_figure *f)
{
    rep_step *s = NULL;
    for (size_t i = r->nsteps; f->step && i-- > 0 && !s;)
        if (!strcmp(r->steps[i].key, f->step) && strcmp(r->steps[i].outcome, "unfinished"))
            s = &r->steps[i];
    if (s && f->field && !strcmp(f->field, "duration"))
        f->value = json_integer(s->dur_ms);
    else if (s && f->field && !strcmp(f->field, "attempts"))
        f->value = json_integer(s->attempts);
    else if (s && f->field && !strcmp(f->field, "outcome"))
        f->value = json_string(s->outcome);
    else if (s && f->field)
        f->value = json_incref(json_object_get(s->outputs, f->field));
    f->objective_ms = !strcmp(f->objective, "rto") ? r->rto_ms : !strcmp(f->objective, "rpo") ? r->rpo_ms : -1;
    if (strcmp(f->objective, "none") && f->value)
        f->value_ms = as_ms(f->value, f->unit);
    if (f->objective_ms >= 0 && f->value_ms >= 0)
        f->met = f->value_ms <= f->objective_ms;
}

int rep_build(rep_report *r, const char *run_id, json_t *records, int torn_tail)
{
    memset(r, 0, sizeof *r);
    *r = (rep_report){.records = records, .run_id = run_id, .exit_code = -1, .total_ms = -1, .rto_ms = -1,
                      .rpo_ms = -1, .rto_met = -1, .torn_tail = torn_tail};
    gather g = {r, -1, -1};
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec)
        on_record(&g, rec);
    if (!r->status)
        r->status = "unfinished";
    /* a resumed run's run_end counts from the resume: the report counts from the first start */
    if ((r->total_ms < 0 || r->resumed) && g.t0 >= 0 && g.last >= g.t0)
        r->total_ms = g.last - g.t0;
    for (size_t k = 0; k < r->nsteps; k++)
        if (r->steps[k].dur_ms < 0) /* never ended: up to the last record */
            r->steps[k].dur_ms = g.last - g.t0 - r->steps[k].start_ms > 0 ? g.last - g.t0 - r->steps[k].start_ms : 0;
    for (size_t k = 0; k < r->nrollbacks; k++)
        if (r->rollbacks[k].dur_ms < 0)
            r->rollbacks[k].dur_ms = 0;
    if (r->rto_ms >= 0 && r->total_ms >= 0)
        r->rto_met = r->total_ms <= r->rto_ms;
    assign_lanes(r);
    for (size_t k = 0; k < r->nfigures; k++)
        read_figure(r, &r->figures[k]);
    return 0;
}

void rep_free(rep_report *r)
{
    for (size_t i = 0; i < r->nfigures; i++)
        json_decref(r->figures[i].value);
    free(r->figures);
    free(r->steps);
    free(r->confirms);
    free(r->rollbacks);
    json_decref(r->records);
}

char *rep_value_text(const json_t *v)
{
    if (!v)
        return strdup("not recorded");
    char *t = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    size_t n = t ? strlen(t) : 0;
    if (n > REP_TEXT_MAX) { /* cut at a character's start */
        n = REP_TEXT_MAX;
        while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
            n--;
        t[n] = '\0';
    }
    while (t && n && isspace((unsigned char)t[n - 1])) /* stdout keeps its newline */
        t[--n] = '\0';
    return t;
}

/* ---- text, for a terminal ---- */

static const char *or_dash(const char *s) { return s ? s : "-"; }

static const char *bold = "", *reset = ""; /* the program's own colours, on a terminal */

static void dur(long long ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else
        rb_duration_format(ms, buf, len);
}

static void text_header(FILE *f, const rep_report *r)
{
    char total[32], obj[32];
    dur(r->total_ms, total, sizeof total);
    rb_showf(f, NULL, "%sRun %s%s  runbook %s, started %s%s\n", bold, r->run_id, reset,
             or_dash(r->runbook), or_dash(r->started), r->dry_run ? " (dry run)" : "");
    rb_showf(f, NULL, "Status: %s", r->status);
    if (r->exit_code >= 0)
        rb_showf(f, NULL, " (exit %lld)", r->exit_code);
    rb_showf(f, NULL, ", total %s", total);
    if (r->rto_ms >= 0) {
        dur(r->rto_ms, obj, sizeof obj);
        rb_showf(f, NULL, " against the RTO of %s: %s", obj, r->rto_met ? "within" : "OVER");
    } else
        rb_showf(f, NULL, " (the runbook declares no RTO)");
    if (r->resumed)
        rb_showf(f, NULL, ", resumed %d time%s", r->resumed, r->resumed > 1 ? "s" : "");
    rb_showf(f, NULL, "\n");
}

static void text_steps(FILE *f, const rep_report *r)
{
    rb_showf(f, NULL, "\n%sSteps%s\n  %-9s %-9s %-8s %-12s %s\n", bold, reset, "START", "DURATION",
             "ATTEMPTS", "OUTCOME", "STEP");
    for (size_t i = 0; i < r->nsteps; i++) {
        const rep_step *s = &r->steps[i];
        char start[32] = "+", d[32];
        dur(s->start_ms, start + 1, sizeof start - 1);
        dur(s->dur_ms, d, sizeof d);
        rb_showf(f, NULL, "  %-9s %-9s %-8lld %-12s %s", start, d, s->attempts, s->outcome, s->key);
        if (s->rollback)
            rb_showf(f, NULL, "  (rollback %s)", s->rollback);
        if (s->message)
            rb_showf(f, NULL, "\n  %-40s %.*s", "", REP_TEXT_MAX, s->message);
        rb_showf(f, NULL, "\n");
    }
}

static void text_confirms(FILE *f, const rep_report *r)
{
    if (!r->nconfirms)
        return;
    rb_showf(f, NULL, "\n%sConfirmations%s\n", bold, reset);
    for (size_t i = 0; i < r->nconfirms; i++) {
        const rep_confirm *c = &r->confirms[i];
        char at[32];
        dur(c->at_ms, at, sizeof at);
        rb_showf(f, NULL, "  +%-8s %s: %s, answered by %s (user %s)\n", at, or_dash(c->step), or_dash(c->answer),
                 or_dash(c->by), or_dash(c->user));
    }
}

static void text_rollbacks(FILE *f, const rep_report *r)
{
    if (!r->nrollbacks)
        return;
    rb_showf(f, NULL, "\n%sRollbacks%s\n", bold, reset);
    for (size_t i = 0; i < r->nrollbacks; i++) {
        const rep_rollback *b = &r->rollbacks[i];
        char at[32], d[32];
        dur(b->start_ms, at, sizeof at);
        dur(b->dur_ms, d, sizeof d);
        rb_showf(f, NULL, "  +%-8s %-9s %-12s %s%s%.*s\n", at, d, b->outcome, b->step, b->message ? ": " : "",
                 REP_TEXT_MAX, b->message ? b->message : "");
    }
}

/* "1234 ms", and with an objective "RPO 5s: pass". */
static void text_figures(FILE *f, const rep_report *r)
{
    if (!r->nfigures)
        return;
    rb_showf(f, NULL, "\n%sFigures%s\n", bold, reset);
    for (size_t i = 0; i < r->nfigures; i++) {
        const rep_figure *g = &r->figures[i];
        char *v = rep_value_text(g->value), shown[32], obj[32];
        const char *text = v ? v : "?";
        int measured = strcmp(g->objective, "none") != 0;
        if (measured && g->value_ms >= 0) { /* a duration, shown as one */
            dur(g->value_ms, shown, sizeof shown);
            text = shown;
        }
        const char *unit = g->value && g->unit && !measured ? g->unit : NULL;
        rb_showf(f, NULL, "  %-40s %s%s%s", or_dash(g->label), text, unit ? " " : "", unit ? unit : "");
        free(v);
        if (strcmp(g->objective, "none")) {
            dur(g->objective_ms, obj, sizeof obj);
            rb_showf(f, NULL, "  %s %s: %s", !strcmp(g->objective, "rto") ? "RTO" : "RPO", obj,
                     g->met == 1 ? "pass" : g->met == 0 ? "FAIL" : "unknown");
        }
        rb_showf(f, NULL, "\n");
    }
}

void rep_write_text(FILE *f, const rep_report *r)
{
    int color = cli_use_color(f);
    bold = color ? rb_show_bold : "";
    reset = color ? rb_show_reset : "";
    text_header(f, r);
    text_steps(f, r);
    text_confirms(f, r);
    text_rollbacks(f, r);
    text_figures(f, r);
    if (r->truncated)
        rb_showf(f, NULL, "\n(the report lists the first %d of each kind)\n", REP_ITEMS_MAX);
    if (r->torn_tail)
        rb_showf(f, NULL, "\nnote: the journal's last record was torn and is ignored\n");
}

/* ---- JSON, for tools ---- */

static json_t *opt_str(const char *s) { return s ? json_string(s) : json_null(); }
static json_t *opt_ms(long long ms) { return ms >= 0 ? json_integer(ms) : json_null(); }
static json_t *opt_bool(int b) { return b < 0 ? json_null() : json_boolean(b); }

static json_t *json_steps(const rep_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nsteps; i++) {
        const rep_step *s = &r->steps[i];
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:s, s:o, s:o, s:i}", "step", s->key, "start_ms",
                                           (json_int_t)s->start_ms, "duration_ms", (json_int_t)s->dur_ms, "attempts",
                                           (json_int_t)s->attempts, "outcome", s->outcome, "message",
                                           opt_str(s->message), "rollback", opt_str(s->rollback), "lane", s->lane));
    }
    return a;
}

static json_t *json_confirms(const rep_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nconfirms; i++) {
        const rep_confirm *c = &r->confirms[i];
        json_array_append_new(a, json_pack("{s:o, s:I, s:o, s:o, s:o}", "step", opt_str(c->step), "at_ms",
                                           (json_int_t)c->at_ms, "by", opt_str(c->by), "answer", opt_str(c->answer),
                                           "user", opt_str(c->user)));
    }
    return a;
}

static json_t *json_rollbacks(const rep_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nrollbacks; i++) {
        const rep_rollback *b = &r->rollbacks[i];
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s, s:o}", "step", b->step, "start_ms",
                                           (json_int_t)b->start_ms, "duration_ms", (json_int_t)b->dur_ms, "outcome",
                                           b->outcome, "message", opt_str(b->message)));
    }
    return a;
}

static json_t *json_figures(const rep_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nfigures; i++) {
        const rep_figure *g = &r->figures[i];
        int obj = strcmp(g->objective, "none") != 0;
        json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:s, s:o, s:O, s:o, s:o, s:o}", "label", opt_str(g->label),
                                           "step", opt_str(g->step), "field", opt_str(g->field), "objective",
                                           g->objective, "unit", opt_str(g->unit), "value",
                                           g->value ? g->value : json_null(), "value_ms",
                                           obj ? opt_ms(g->value_ms) : json_null(), "objective_ms",
                                           opt_ms(g->objective_ms), "met", opt_bool(g->met)));
    }
    return a;
}

void rep_write_json(FILE *f, const rep_report *r)
{
    json_t *o = json_pack("{s:i, s:s, s:o, s:o, s:s, s:o, s:b, s:b, s:i, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:b}",
                          "report_version", 1, "run", r->run_id, "runbook", opt_str(r->runbook), "started",
                          opt_str(r->started), "status", r->status, "exit_code",
                          r->exit_code >= 0 ? json_integer(r->exit_code) : json_null(), "finished", r->finished,
                          "dry_run", r->dry_run, "resumed", r->resumed, "total_ms", opt_ms(r->total_ms), "rto_ms",
                          opt_ms(r->rto_ms), "rpo_ms", opt_ms(r->rpo_ms), "rto_met", opt_bool(r->rto_met), "lanes",
                          r->lanes, "steps", json_steps(r), "confirmations", json_confirms(r), "rollbacks",
                          json_rollbacks(r), "figures", json_figures(r), "truncated", r->truncated);
    if (o)
        json_dumpf(o, f, JSON_INDENT(2));
    fputc('\n', f);
    json_decref(o);
}

/* ---- the command ---- */

typedef struct rargs {
    char *state_dir;
    int format; /* 0 text, 1 json, 2 html */
} rargs;

static int on_opt(int opt, const char *arg, void *ctx)
{
    rargs *a = ctx;
    static const char *const formats[] = {"text", "json", "html", NULL};
    if (opt == 0) {
        for (a->format = 0; formats[a->format] && strcmp(formats[a->format], arg); a->format++)
            ;
        return formats[a->format] ? 0 : cli_usage_error(&cli_report, "unknown format '%s' (text, json, html)", arg);
    }
    free(a->state_dir);
    a->state_dir = strdup(arg);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    rargs a = {NULL, 0};
    char **pos;
    int npos, rc = cli_parse(&cli_report, argc, argv, on_opt, &a, &pos, &npos);
    if (rc == 0 && npos != 1)
        rc = cli_usage_error(&cli_report, "name one run id (see 'runbook runs')");
    char *state = a.state_dir ? a.state_dir : rb_exec_default_state_dir();
    char id[RB_RUN_ID_MAX];
    if (rc == 0)
        rc = cli_run_id(state, pos[0], "report", id, sizeof id);
    char *path = rc == 0 ? rb_journal_path_of(state, id) : NULL;
    json_t *records = NULL;
    rb_journal_read_info info = {0};
    if (rc == 0 && (!path || rb_journal_load(path, &records, &info) != RB_JOURNAL_OK)) {
        rb_showf(stderr, NULL, "runbook report: cannot read the journal of '%s'%s%s\n", id,
                 *info.message ? ": " : "", info.message);
        rc = path && info.records ? EXIT_FAILED : EXIT_USAGE; /* no such run is a usage error */
    }
    rep_report r;
    if (rc == 0 && rep_build(&r, id, records, info.torn_tail) == 0) {
        if (a.format == 1)
            rep_write_json(stdout, &r);
        else if (a.format == 2)
            rep_write_html(stdout, &r);
        else
            rep_write_text(stdout, &r);
        rep_free(&r);
    }
    free(path);
    free(state);
    return rc < 0 ? EXIT_OK : rc;
}
