/* Private to src/exec and src/actions: the state of one run and the interface of actions. */
#ifndef RUNBOOK_EXEC_INTERNAL_H
#define RUNBOOK_EXEC_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "runbook/action.h"
#include "runbook/exec.h"
#include "runbook/expr.h"
#include "runbook/journal.h"
#include "runbook/lock.h"
#include "runbook/mask.h"
#include "runbook/proc.h"

#define OUTPUT_JOURNAL_MAX (64u * 1024u) /* bytes of stdout/stderr/body kept per journal record */

typedef struct step_state {
    rb_outcome outcome;
    int started, finished, running, continued, in_doubt;
    int attempts;
    long long duration_ms;
    uint64_t done_order; /* completion order, for rollbacks newest first */
    int rollback_started; /* journaled rollback_start (replayed on resume) */
    int rollback_done;    /* journaled rollback_end */
    rb_outcome rollback_outcome;
    pthread_t thread;
    char message[256];
    json_t *items_done;     /* for_each: [{index, value, outputs}] of the items that succeeded */
    int taken_over;         /* this run did not make its outputs: TAKEN_MARKED or TAKEN_SKIPPED */
} step_state;

enum { TAKEN_MARKED = 1, TAKEN_SKIPPED = 2 }; /* --mark-done; skipped by --from */

/* A target's connection for this run: opened by its action on first use, reused by later
 * steps, closed at the run's end. One call at a time holds a slot. */
typedef struct conn_slot {
    pthread_mutex_t mu;
    void *conn;
    const rb_action_ops *ops;
    uint64_t rendered; /* hash of the target as rendered for conn: a target that reads steps'
                          outputs may render differently later, and then gets a new one */
} conn_slot;

typedef struct run {
    const rb_runbook *rb;
    const rb_graph *g;
    const rb_exec_opts *o;
    struct run *parent;     /* set for a called runbook */
    char prefix[256];       /* "" or "call-step/" for a called runbook's steps in the journal */
    pthread_mutex_t *mu;    /* shared with the parent */
    pthread_cond_t cv;
    json_t *inputs, *secrets, *steps, *env, *runobj, *rbobj;
    rb_masker *masker;      /* shared with the parent */
    rb_journal *journal;    /* shared with the parent */
    rb_proc_cancel_token *cancel; /* the steps' token; a called runbook's own, linked to its caller's */
    rb_proc_cancel_token own_cancel; /* a called runbook's token (cancel points here) */
    step_state *st;
    size_t running;
    uint64_t done_counter;
    int stopping;           /* a failure policy stopped the run */
    long failed_step;       /* the step whose failure stopped it, or -1 */
    long long start_ms, deadline_ms;
    int deadline_passed;
    char deadline_what[128]; /* whose limit the deadline is: "the run's deadline", ... */
    int journal_failed;
    int rollback_pending;   /* resume: a rollback was in progress; finish it */
    json_t *replay;         /* resume: the journal's records (borrowed), for called runbooks */
    char halt[256];         /* resume: why it stopped inside a called runbook ("" if it did not) */
    int lock_warned;        /* top run: the system-wide lock's warning was shown (once a run) */
    conn_slot *conns;       /* one per target of rb, by index */
    json_t *forward;        /* resume --mark-done/--retry-failed, run --from: what to journal */
    int undo_tried, undo_failed; /* undo steps run by this process's rollback, and failed ones */
} run;

/* ---- invoking actions (invoke.c) ---- */

typedef rb_act_result act_result;

typedef enum { INVOKE_MAIN, INVOKE_ROLLBACK, INVOKE_UNDO, INVOKE_VERIFY } invoke_kind;

/* One use of a block's action: which, why, and within what. */
typedef struct invocation {
    const rb_step *step;
    const rb_block *block;   /* the block whose action runs; for an undo, the step's main */
    invoke_kind kind;
    long long timeout_ms;    /* 0: none */
    const rb_proc_cancel_token *cancel;
} invocation;

/* The one path from a block to its action, for steps, rollbacks, undos and verifies: renders
 * the parameters and target, makes the journal durable, runs the action with the run's mutex
 * released (output shown live and masked), then judges its expect. Caller holds r->mu; res is
 * filled (outputs never NULL). */
void invoke(run *r, const invocation *inv, act_result *res);
/* Closes the run's connections. */
void close_connections(run *r);
/* Dry run: shows what write step s would do instead of running it (preview.c). Caller holds
 * r->mu. */
void exec_preview(run *r, const rb_step *s);
/* ---- for_each (loop.c) ---- */

/* A for_each step's list: an expression that gives an array, or a YAML list of templates. New
 * reference; NULL with a message, or with *unknown when a dry run cannot know it. */
json_t *exec_loop_items(run *r, const rb_step *s, int *unknown, char *err, size_t len);
/* The current thread's loop item ({NAME: value, index: i}) for expressions (each.*), or NULL. */
void exec_set_each(json_t *each);
json_t *exec_current_each(void);
/* Runs a for_each step's action once per item (up to its `parallel` at once, within --jobs),
 * skipping items a resumed journal says finished; res gets {items: [outputs...]} in the list's
 * order, or the failure of the failing item with the lowest index. Caller holds r->mu. */
void run_items(run *r, const rb_step *s, step_state *st, act_result *res);
/* The attempts of one action (with retries): step.c. */
void exec_attempts(run *r, const rb_step *s, step_state *st, act_result *res);
/* Outputs as the journal keeps them (masked, bounded): step.c. */
void exec_bound_output(run *r, json_t *fields);

/* Marks every child of this process as the run's (RUNBOOK_RUN in the environment): before
 * threads start. survivors.c. */
void exec_mark_children(const char *run_id);
/* Resume: processes of the interrupted run that still live (the journaled process groups of
 * attempts without an end, and the marked) are waited for (bounded), then stopped with consent
 * (--yes or the operator); -1 (message in err) when they stay. Caller holds r->mu. */
int exec_settle_survivors(run *r, const char *run_id, char *err, size_t len);
/* What an action's child is journaled under: filled by invoke (r->mu held) and handed to the
 * action as its spawn context. */
typedef struct spawn_ctx {
    run *r;
    char step[320];
    const char *kind; /* "main", "rollback", "undo", "verify" */
    int attempt;
    long long index;  /* the for_each item, or -1 */
} spawn_ctx;
void exec_spawn_ctx_init(spawn_ctx *sc, run *r, const invocation *inv);
/* The action's on_spawn: journals the child's process group (takes r->mu). survivors.c. */
void exec_journal_spawn(void *ctx, pid_t pgid);
/* The whole call tree checked before the first step: each distinct called runbook is found,
 * passes the checks `validate` runs (its errors added to o->diags), can run in this build, and
 * reads its secrets as its call will (present, long enough, no id word); every confirmation
 * can be answered (a terminal, or --yes for those it may answer). 0, or the exit code (1 an
 * invalid callee, 2 otherwise) with a message naming the callee and the reason. call.c. */
int exec_preflight_calls(run *r, char *err, size_t len);
/* A called runbook's secrets, read and checked as its call under `caller` will (run.c). */
int exec_secrets_ready(const rb_runbook *rb, run *caller, char *err, size_t len);
/* Runs a called runbook (RB_AT_CALLS_RUNBOOK): call.c. */
int exec_call_runbook(run *r, const invocation *inv, const json_t *params, act_result *res);

/* ---- cancel links (link.c) ---- */

/* Cancels `target` once `source` (or NULL) is cancelled or the absolute monotonic deadline_ms
 * (0: none) comes, until stopped. Fields are private. */
typedef struct cancel_link {
    const rb_proc_cancel_token *source;
    rb_proc_cancel_token *target;
    long long deadline_ms;
    rb_proc_cancel_token stop;
    pthread_t thread;
    int started;
} cancel_link;
/* 0, or -1 when the thread cannot start (nothing then watches). */
int cancel_link_start(cancel_link *l, const rb_proc_cancel_token *source, rb_proc_cancel_token *target,
                      long long deadline_ms);
/* Stops watching (the target is left as it is); safe on a link never started. */
void cancel_link_stop(cancel_link *l);

/* ---- helpers shared by the executor's files ---- */

long long now_ms(void);
/* The token an interrupt cancels (NULL: none), returning the one it replaces; and whether an
 * interrupt arrived. */
rb_proc_cancel_token *exec_set_cancel(rb_proc_cancel_token *t);
int exec_interrupted(void);
uint64_t rb_content_hash(const char *s, size_t len);
/* Waits up to `ms` or until `cancel` fires; returns 1 when cancelled. */
int wait_or_cancel(const rb_proc_cancel_token *cancel, long long ms);

rb_scope run_scope(run *r);
/* A duration or int that may be one ${{ }} (RB_DYNAMIC, evaluated from node n); fallback when
 * absent or not a number. Caller holds r->mu. */
long long resolve_ms(run *r, long long ms, const rb_node *n, long long fallback);
long long default_timeout(run *r);
/* A rollback's or verify's timeout (k), else its step's, else defaults.timeout; 0: none. */
long long block_timeout(run *r, const rb_step *s, const rb_block *k);
/* Renders a block's action parameters into JSON; NULL + message on an evaluation error, or with
 * *unknown set when a dry run cannot know a value. Caller holds r->mu. */
json_t *render_params(run *r, const rb_action *a, int *unknown, char *err, size_t errlen);
/* The same with sql_literal()/sql_ident() quoted by the action's escape on an open connection
 * (q NULL, or without one: the connection-free quoting). */
typedef struct sql_quoting {
    char *(*escape)(void *conn, const char *s, size_t len, int ident);
    void *conn;
} sql_quoting;
json_t *render_params_quoting(run *r, const rb_action *a, const sql_quoting *q, int *unknown, char *err,
                              size_t errlen);
/* The action's target rendered, or NULL (*unknown set when a dry run cannot know a value). */
/* Any value as JSON, keeping YAML and expression types (JSON bodies, dry_run outputs); NULL on
 * an error (message in err); *unknown when a dry run cannot know a part. */
json_t *render_typed(run *r, const rb_node *n, int *unknown, char *err, size_t errlen);
json_t *render_target(run *r, const rb_action *a, int *unknown, char *err, size_t errlen);
/* The step's journal id: prefix + id. */
void step_key(const run *r, const rb_step *s, char *buf, size_t len);
/* The step's name for its side files beside the journal (the key, '/' made '_'). */
void side_key(const run *r, const rb_step *s, char *buf, size_t len);
/* Secret captures are never journaled: they are kept beside the journal (0600) for a resume. */
void save_secret_captures(run *r, const rb_step *s, json_t *outputs);
void load_secret_captures(run *r, const rb_step *s, json_t *outputs);

/* Journals one record; on failure marks the run failed (a journal that cannot be written must
 * stop the run). Caller holds r->mu. */
int journal(run *r, const char *type, json_t *fields);
/* Makes the journal durable; called right before every action (and at a run's end). */
int journal_sync(run *r);
void emit(run *r, const rb_event *ev);

/* Evaluates an expression scalar: 1 true, 0 false, -1 unknown (dry run), -2 error (message in
 * err). Caller holds r->mu. */
int condition(run *r, const rb_node *n, char *err, size_t len);
int condition_text(run *r, const char *text, size_t n, char *err, size_t len);

/* Captures of a block whose action succeeded (and was judged). */
int apply_captures(run *r, const rb_block *k, act_result *res, char *err, size_t errlen);
/* A block with a `secret: true` capture: its output is shown only once the capture is masked. */
int block_has_secret_capture(const rb_block *k);
/* Adds what the block's secret captures find in `outputs` to the masker, whatever the outcome. */
void mask_secret_captures(run *r, const rb_block *k, json_t *outputs);

void run_step_thread_start(run *r, size_t i);
int run_init(run *r, const rb_runbook *rb, const rb_graph *g, const rb_exec_opts *o, json_t *inputs);
void run_free(run *r);
void set_deadline(run *r);
int load_secrets(run *r, char *err, size_t len);
int take_lock(run *r, const char *name, const char *run_id, rb_lock **lock, char *err, size_t len);
void schedule(run *r);
/* Marks the run stopped when its deadline has passed (caller holds r->mu). */
void check_deadline(run *r);
int run_main(run *r, rb_run_result *res);
int run_finish(run *r, rb_run_result *res);
int rollback_step(run *r, size_t i, const rb_proc_cancel_token *cancel);
int run_rollbacks(run *r);
/* Resume of a called runbook `c` (c->replay set): replays its journaled steps and settles those
 * in doubt; -1 (message in err) when one stays in doubt. Caller holds c->mu. */
int resume_called(run *c, char *err, size_t len);
/* Runs a called runbook for the invocation `inv` of a `runbook` step: it stops with inv's token,
 * and by itself at inv's timeout or its own deadline. */
int run_called_graph(run *parent, const invocation *inv, const rb_runbook *callee, const rb_graph *g,
                     json_t *inputs, act_result *res);
/* A called runbook's run, sharing the caller's mutex, journal, masker and cancel token; its
 * steps are journaled under "call-step/". called_free releases what called_init took. */
void called_init(run *c, run *parent, const rb_step *s, const rb_runbook *callee, const rb_graph *g, json_t *inputs);
void called_free(run *c);
/* Replays the journal records (c->replay) of a called runbook into its state: resume.c. */
void replay_called(run *c);
/* Undoes what a completed runbook call did: the called runbook's completed steps, newest first,
 * read back from the journal, each journaled. Caller holds r->mu. call.c. */
int exec_undo_call(run *r, const rb_step *s, const rb_proc_cancel_token *cancel, act_result *res);
/* ---- a way forward from a stop (forward.c) ---- */

/* Who acts, for the audit: user (and sudo_user) added to a record's fields. step.c. */
void journal_who(json_t *f);
/* Forgets step i's outcome: it runs again (a for_each keeps its finished items). */
void exec_forget_outcome(run *r, size_t i);
/* Resume: checks --mark-done and --retry-failed against the replayed state (run_end: the
 * journal's last run_end, or NULL; rollback: a rollback had begun) and applies them to it; then
 * refuses when a step still to run reads outputs the run does not have. -1 with a message. */
int exec_resume_prepare(run *r, const json_t *run_end, int rollback, char *err, size_t len);
/* The resume record's fields, then the records of what exec_resume_prepare applied. */
json_t *exec_resume_record(run *r);
void exec_resume_journal(run *r);
/* run --from: the steps before o->from_step are skipped, their outputs taken from the run
 * o->outputs_from; refused (-1, message) when a step that will run reads an output missing. */
int exec_from_prepare(run *r, char *err, size_t len);
/* Journals the skipped steps (after run_start). */
void exec_from_journal(run *r);

/* Rolls back every completed step of r with `cancel`, journaled under r's scope. rollback.c. */
int rollback_all(run *r, const rb_proc_cancel_token *cancel);

#endif
