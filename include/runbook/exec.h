/* The executor: walks a checked runbook's graph with real actions, journaling every event,
 * applying retries, timeouts, failure policies and rollbacks; and resumes an interrupted run.
 * It never prints: everything the operator sees goes through rb_exec_ui. */
#ifndef RUNBOOK_EXEC_H
#define RUNBOOK_EXEC_H

#include <jansson.h>
#include <stddef.h>

#include "runbook/check.h"
#include "runbook/graph.h"
#include "runbook/mask.h"
#include "runbook/model.h"
#include "runbook/outcome.h"


/* What the executor tells the operator. Text fields are already masked. */
typedef enum {
    RB_EV_RUN_START,   /* text: run id; path: journal */
    RB_EV_STEP_START,  /* step, title */
    RB_EV_OUTPUT,      /* step, stream (1 stdout, 2 stderr), text/len: a chunk */
    RB_EV_RETRY,       /* step, attempt (the one that failed), attempts, delay_ms, text: why */
    RB_EV_STEP_END,    /* step, outcome, duration_ms, text: why it failed / was skipped */
    RB_EV_ROLLBACK,    /* step, outcome of its rollback, text */
    RB_EV_NOTE,        /* step may be NULL; text */
    RB_EV_RUN_END,     /* outcome of the run (succeeded/failed/cancelled/rolled_back), duration_ms,
                          text: why it did not succeed; the ending's facts (below) */
    RB_EV_PREVIEW      /* dry run: step, text: what a write step would do (lines; masked) */
} rb_event_kind;

/* RB_EV_RUN_END's facts, so the terminal names the real ending without guessing. */
typedef struct rb_run_ending {
    int rollback;           /* the rollback policy ran (or, in a dry run, would run) */
    int undo_tried;         /* undo steps that ran (steps with nothing to undo are not counted) */
    int undo_failed;        /* ...of which failed or were cut short */
    int continued;          /* steps that failed and were continued past (on_failure: continue) */
} rb_run_ending;

typedef struct rb_event {
    rb_event_kind kind;
    const char *step, *title;
    rb_outcome outcome;
    int stream, attempt, attempts, continued, dry_run;
    long long duration_ms, delay_ms;
    const char *text;
    size_t len;
    const char *path;
    rb_run_ending ending;   /* RB_EV_RUN_END only */
} rb_event;

typedef struct rb_exec_ui {
    void *ctx;
    /* Called from several threads, never at once (the executor serializes calls). */
    void (*event)(void *ctx, const rb_event *ev);
    /* Asks the operator. Returns 1 yes, 0 no, -1 when no one can be asked (no terminal), -2
     * when the operator interrupted the question (Ctrl-C): the run stops as on SIGINT and a
     * resume asks again. `question` is masked. Serialized like `event`. */
    int (*ask)(void *ctx, const char *step, const char *question);
} rb_exec_ui;

typedef struct rb_exec_opts {
    const char *state_dir;  /* journals and locks */
    int jobs;               /* steps at once, >= 1 */
    int yes;                /* answer every confirmation anyone may give (journaled as --yes) */
    int yes_manual;         /* with yes: also mark manual steps done (--yes-manual) */
    int can_ask;            /* a person can be asked (a terminal): else a run that would ask one
                               is refused before its first step */
    int dry_run;
    int rerun_in_doubt;     /* resume: run in-doubt steps again without asking */
    int force;              /* resume: accept a runbook whose content changed */
    int verbose;            /* also report each action's rendered parameters (masked) */
    /* resume: steps the operator checked by hand (in doubt or failed), taken as succeeded with no
     * outputs, journaled with who (the user) and why (mark_reason) */
    const char *const *mark_done;
    size_t nmark_done;
    const char *mark_reason;
    int retry_failed;       /* resume, also of a run that ended failed: its failed step runs again */
    const char *from_step;  /* run: the steps before this one in the run order are skipped */
    const char *outputs_from; /* run with from_step: the run id whose outputs the skipped steps keep */
    rb_catalog *catalog;    /* for `runbook` steps */
    rb_diags *diags;        /* or NULL: the errors of a called runbook refused before the run
                               (as `validate` finds them), for the caller to print */
    rb_exec_ui ui;
    rb_masker *masker;      /* or NULL: the run's secrets are added to this one (borrowed), so the
                               caller masks what it prints after the run with what the run knew */
} rb_exec_opts;

/* How a run ended; the exit code the command line returns is derived from it. */
typedef struct rb_run_result {
    rb_outcome outcome;     /* succeeded, failed, cancelled (interrupted), rolled_back */
    int exit_code;          /* 0, 1, 2 (input), 3 (rollback incomplete), 130 (interrupted) */
    char run_id[96];
    char message[256];      /* why it did not succeed, "" otherwise */
} rb_run_result;

/* Runs `rb` (checked, graph without cycle) with `inputs` (an object of typed values for every
 * declared input). Blocks until the run ends. SIGINT/SIGTERM stop it (see rb_exec_interrupt). */
int rb_exec_run(const rb_runbook *rb, const rb_graph *g, json_t *inputs, const rb_exec_opts *o,
                rb_run_result *res);

/* Continues run `run_id` from its journal. The runbook is loaded from the path the journal
 * names; `rb`/`g` are that runbook, loaded and checked by the caller (rb_exec_resume_path tells
 * which file). */
int rb_exec_resume(const rb_runbook *rb, const rb_graph *g, const char *run_id, const rb_exec_opts *o,
                   rb_run_result *res);
/* The runbook file a journaled run was started from (caller frees), or NULL with a message. */
char *rb_exec_resume_path(const char *state_dir, const char *run_id, char *err, size_t errlen);

/* 1 when step s's confirmation needs a person under `o`: confirm_by: person, or a manual step
 * without --yes-manual. */
int rb_step_needs_person(const rb_step *s, const rb_exec_opts *o);

/* Async-signal-safe: stops the current run as on SIGINT (the run ends with 130). */
void rb_exec_interrupt(void);
/* 1 once an interrupt arrived (a question being asked stops waiting for its answer). */
int rb_exec_interrupted(void);
/* Installs SIGINT/SIGTERM handlers that call rb_exec_interrupt, and ignores SIGPIPE. */
void rb_exec_install_signals(void);

/* The default state folder: $XDG_STATE_HOME/runbook (when absolute), else
 * <home>/.local/state/runbook, home being $HOME or else the password database's (malloc'd);
 * NULL when there is no home: never a shared folder. */
char *rb_exec_default_state_dir(void);

#endif
