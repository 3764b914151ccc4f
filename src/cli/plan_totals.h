/* Private to the command line: what a plan adds up to (counts, the longest path's planned time
 * against the RTO) and when `run` would refuse the runbook, for plan's text and json. */
#ifndef RUNBOOK_CLI_PLAN_TOTALS_H
#define RUNBOOK_CLI_PLAN_TOTALS_H

#include <jansson.h>
#include <stdio.h>

#include "runbook/graph.h"
#include "runbook/model.h"

#define PLAN_UNBOUNDED (-1LL) /* a step's planned time when nothing bounds it */

/* When `run` refuses, from the least to the most that an operator can change. */
typedef enum {
    PLAN_REFUSE_HERE,        /* in this environment (a secret's variable is not set) */
    PLAN_REFUSE_NO_TERMINAL, /* without a terminal, whatever the flags */
    PLAN_REFUSE_NO_YES,      /* without a terminal, unless --yes */
    PLAN_REFUSE_NO_YES_MANUAL, /* without a terminal, unless --yes --yes-manual */
    PLAN_REFUSE_NO_SET,      /* without a terminal, unless --set gives the input */
} plan_refusal_kind;

typedef struct plan_refusal {
    plan_refusal_kind kind;
    const char *what; /* "step", "input" or "secret" */
    const char *name; /* borrowed from the model */
} plan_refusal;

typedef struct plan_totals {
    size_t steps, writes, irreversible, confirmations, by_person, rollbacks;
    long long *step_ms;   /* per step (file order): its planned time, or PLAN_UNBOUNDED */
    size_t *path, npath;  /* the longest path by planned time, in run order */
    long long path_ms;    /* the planned time of its bounded steps */
    size_t path_unbounded; /* its steps nothing bounds (no timeout, a person's work) */
    plan_refusal *refusals;
    size_t nrefusals;
} plan_totals;

/* Adds up `rb` (checked, graph without cycle) with `inputs` (rb_inputs_object: unknown where
 * only --set or a terminal can give a value). Returns 0, or -1 when out of memory. Free with
 * plan_totals_cleanup, also after a failure. */
int plan_totals_compute(const rb_runbook *rb, const rb_graph *g, json_t *inputs, plan_totals *t);
void plan_totals_cleanup(plan_totals *t);

/* The plan's closing section. */
void plan_totals_print(const plan_totals *t, const rb_runbook *rb, FILE *out, int color);
/* The same as JSON: {"totals": ..., "longest_path": ..., "run_refuses": [...]} (a new object). */
json_t *plan_totals_json(const plan_totals *t, const rb_runbook *rb);
/* The sentence a refusal prints (without the step, input or secret's name). */
const char *plan_refusal_text(plan_refusal_kind kind);

#endif
