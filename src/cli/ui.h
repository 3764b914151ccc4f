/* Private to the command line: the terminal side of a run (rb_exec_ui). */
#ifndef RUNBOOK_CLI_UI_H
#define RUNBOOK_CLI_UI_H

#include <stdio.h>

#include "runbook/exec.h"

#define UI_MAX_STEPS 4096

typedef struct ui_step {
    char id[128];
    rb_outcome outcome;
    int continued;
} ui_step;

typedef struct ui_state {
    FILE *out;
    int color, quiet, verbose, line_start;
    long long rto_ms;
    ui_step steps[UI_MAX_STEPS]; /* the steps the summary lists: continued past or undecided */
    size_t nsteps, unlisted;     /* unlisted: more of them than fit, counted */
    const rb_masker *masker;  /* the run's: everything shown is masked again as it is written */
    char carry[4];            /* the start of a UTF-8 character cut off at the end of a chunk */
    size_t ncarry;
    char carry_step[128];     /* ...of this step's output, on this stream */
    int carry_stream;
} ui_state;

void ui_event(void *ctx, const rb_event *ev);
int ui_ask(void *ctx, const char *step, const char *question);
/* 1 when an operator can be asked (stdin and stderr are terminals). */
int ui_terminal(void);

#endif
