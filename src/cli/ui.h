/* Private to the command line: the terminal side of a run (rb_exec_ui). */
#ifndef RUNBOOK_CLI_UI_H
#define RUNBOOK_CLI_UI_H

#include <pthread.h>
#include <stdio.h>

#include "runbook/exec.h"

#define UI_MAX_STEPS 4096
#define UI_MAX_RUNNING 64 /* steps the ticker times at once; more are counted */

typedef struct ui_step {
    char id[128];
    rb_outcome outcome;
    int continued;
} ui_step;

typedef struct ui_running {
    char id[128];
    long long since_ms; /* monotonic */
} ui_running;

/* The live line under the output: the running steps' elapsed time, redrawn in place about once a
 * second on a terminal, erased before anything else is printed. Its thread shares ui_state's
 * mutex with the executor's events and questions. */
typedef struct ui_ticker {
    int on;                 /* stdout is a terminal that can redraw (not TERM=dumb), not --quiet */
    int started, stop, shown, asking;
    pthread_t thread;
    pthread_cond_t cv;
    ui_running running[UI_MAX_RUNNING];
    size_t nrunning, uncounted;
    long long last_print_ms; /* it waits a second after the last line printed */
    char drawn[256];         /* what it shows now: redrawn only when it changes */
} ui_ticker;

typedef struct ui_state {
    FILE *out;
    int color, quiet, verbose, line_start;
    int timestamps;           /* --timestamps: every line starts with the local time */
    int show_ids;             /* --jobs > 1: every output line names its step */
    long long rto_ms;
    ui_step steps[UI_MAX_STEPS]; /* the steps the summary lists: continued past or undecided */
    size_t nsteps, unlisted;     /* unlisted: more of them than fit, counted */
    const rb_masker *masker;  /* the run's: everything shown is masked again as it is written */
    char carry[4];            /* the start of a UTF-8 character cut off at the end of a chunk */
    size_t ncarry;
    char carry_step[128];     /* ...of this step's output, on this stream */
    int carry_stream;
    char out_step[128];       /* whose output line is in progress (line_start 0) */
    int out_stream;
    pthread_mutex_t mu;       /* events, questions and the ticker write one at a time */
    ui_ticker tk;
} ui_state;

/* Sets up u for writing to `out` (zeroed first); ticker: 1 to show the live line when `out` is a
 * terminal that can redraw. ui_cleanup stops the ticker and releases what ui_init took. */
void ui_init(ui_state *u, FILE *out, int ticker);
void ui_cleanup(ui_state *u);

void ui_event(void *ctx, const rb_event *ev);
int ui_ask(void *ctx, const char *step, const char *question);
/* 1 when an operator can be asked (stdin and stderr are terminals). */
int ui_terminal(void);

/* The ticker (ui_ticker.c); callers hold u->mu. */
void ticker_step_started(ui_state *u, const char *id);
void ticker_step_ended(ui_state *u, const char *id);
/* Removes the live line from the screen, before anything else is written. */
void ticker_erase(ui_state *u);
/* A line was printed: the ticker waits a second before it draws again. */
void ticker_printed(ui_state *u);
/* Starts the ticker's thread (on the first step, when it is on). */
void ticker_start(ui_state *u);
/* Stops the ticker's thread (call without holding u->mu). */
void ticker_stop(ui_state *u);
long long ui_now_ms(void);

#endif
