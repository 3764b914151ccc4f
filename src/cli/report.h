/* Private to the command line: one run's report, gathered from its journal alone, and the
 * ways it is written (report.c: text and JSON; report_html.c: one self-contained page). */
#ifndef RUNBOOK_CLI_REPORT_H
#define RUNBOOK_CLI_REPORT_H

#include <jansson.h>
#include <stdio.h>

/* Bounds on what a report holds; a journal with more says so (rep_report.truncated). */
#define REP_ITEMS_MAX 5000 /* steps, confirmations, rollbacks, each */
#define REP_LANES_MAX 32   /* timeline rows; more overlapping steps share the last */
#define REP_TEXT_MAX 300   /* bytes of a message or a value shown */

/* Strings are borrowed from the journal's records, which the report keeps (records). */
typedef struct rep_step {
    const char *key;      /* step id; "call/step" inside a called runbook */
    long long start_ms;   /* from the run's start */
    long long dur_ms;
    long long attempts;
    const char *outcome;  /* step_end's; "unfinished" when it has none */
    const char *message;  /* NULL when none */
    const char *rollback; /* its rollback's outcome, NULL when none ran */
    json_t *outputs;      /* step_end's outputs, or NULL */
    int lane;
} rep_step;

typedef struct rep_confirm {
    const char *step, *by, *answer, *user;
    long long at_ms;
} rep_confirm;

typedef struct rep_rollback {
    const char *step, *outcome, *message; /* outcome "unfinished" when it has no end */
    long long start_ms, dur_ms;
} rep_rollback;

typedef struct rep_figure {
    const char *label, *step, *field, *objective, *unit; /* objective "none", "rto", "rpo" */
    json_t *value;         /* the journaled value, or NULL when the run did not record it */
    long long value_ms;    /* the value as a duration (objective figures), -1 if unreadable */
    long long objective_ms; /* -1 when none */
    int met;               /* 1 within the objective, 0 over, -1 unknown or no objective */
} rep_figure;

typedef struct rep_report {
    json_t *records;
    const char *run_id, *runbook, *started, *status; /* status "running or interrupted" w/o run_end */
    long long exit_code;  /* -1 without run_end */
    long long total_ms, rto_ms, rpo_ms; /* -1 when unknown / not declared */
    int rto_met;          /* 1, 0, -1 (no RTO) */
    int dry_run, resumed, finished, torn_tail, truncated, lanes;
    rep_step *steps;
    size_t nsteps;
    rep_confirm *confirms;
    size_t nconfirms;
    rep_rollback *rollbacks;
    size_t nrollbacks;
    rep_figure *figures;
    size_t nfigures;
} rep_report;

/* Builds the report from a journal's records (takes the reference). 0, or -1 out of memory. */
int rep_build(rep_report *r, const char *run_id, json_t *records, int torn_tail);
void rep_free(rep_report *r);

void rep_write_text(FILE *f, const rep_report *r);
void rep_write_json(FILE *f, const rep_report *r);
void rep_write_html(FILE *f, const rep_report *r);

/* The value of a figure as text (a string as it is, else its JSON), cut to REP_TEXT_MAX. */
char *rep_value_text(const json_t *v);

#endif
