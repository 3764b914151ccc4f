/* Private to the command line: printing a plan (the steps, and a simulated failure). */
#ifndef RUNBOOK_CLI_PLAN_PRINT_H
#define RUNBOOK_CLI_PLAN_PRINT_H

#include <stdio.h>

#include "runbook/expr.h"
#include "runbook/graph.h"
#include "runbook/model.h"
#include "runbook/values.h"

typedef struct plan_view {
    const rb_runbook *rb;
    const rb_graph *g;
    long simulated; /* step index of --simulate, or -1 */
    json_t *inputs, *secrets, *run, *runbook;
    rb_scope scope;
    FILE *out;
    int color;
} plan_view;

void plan_print(plan_view *v);

#endif
