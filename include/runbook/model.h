/* The typed runbook: what the loader's node tree means, built with every structural error
 * (unknown keys, wrong types, bad enums, durations without units) collected on the way.
 * A model keeps pointers into its document's nodes for locations; it owns the document. */
#ifndef RUNBOOK_MODEL_H
#define RUNBOOK_MODEL_H

#include <limits.h>
#include <stddef.h>

#include "runbook/diag.h"
#include "runbook/node.h"

/* ---- The action registry: one const table per action, listed in one array. ---- */

typedef enum {
    RB_P_TEMPLATE,      /* a scalar; may hold ${{ }} */
    RB_P_TEMPLATE_LIST, /* a sequence of template scalars */
    RB_P_TEMPLATE_MAP,  /* a map of NAME: template */
    RB_P_ANY,           /* any YAML value; every scalar in it is a template (JSON bodies) */
    RB_P_DURATION,      /* "90s", or exactly one ${{ }} */
    RB_P_INT,           /* an integer, or exactly one ${{ }} */
    RB_P_BOOL,
    RB_P_TARGET,        /* the name of a target of the action's target kind */
    RB_P_SQL,           /* SQL text: no ${{ }} allowed */
    RB_P_EXPRS,         /* an expression, or a sequence of expressions */
    RB_P_MODE,          /* an octal file mode string such as "0600" */
    RB_P_METHOD,        /* an HTTP method */
    RB_P_RUNBOOK        /* the name of another runbook */
} rb_param_kind;

#define RB_PF_REQUIRED 1u

typedef struct rb_param_def {
    const char *key;
    rb_param_kind kind;
    unsigned flags;
    const char *doc; /* one line, mirrored by the schema's description */
} rb_param_def;

#define RB_MAX_PARAMS 16

typedef struct rb_action_type {
    const char *name;             /* the step key: "exec", "http", ... */
    const rb_param_def *params;   /* `nparams` entries */
    size_t nparams;
    const char *shorthand;        /* param a non-map value fills ("argv" for `exec: [..]`), or NULL */
    unsigned shorthand_kinds;     /* bit (1 << rb_node_kind) of the kinds the shorthand accepts */
    const char *const *outputs;   /* NULL-terminated output fields, besides outcome/attempts/duration */
    const char *target_kind;      /* "postgres", "ssh", "http", or NULL */
    int reads_by_default;         /* effect read unless said otherwise (http: GET/HEAD only) */
    int network;                  /* talks to another machine: wants a timeout */
    /* Differences that are only data, read by the checker, plan and the executor alike: */
    const char *quoted_param;     /* param whose ${{ }} become quoted shell words, or NULL */
    const char *argv_param;       /* param that is a child's argv (no secrets there), or NULL */
    const char *capture_text;     /* output that re:/json: captures read, or NULL: none */
    unsigned capture_kinds;       /* bit (1 << rb_capture_kind) of the captures it offers */
    const char *const *expect_keys; /* NULL-terminated keys its expect: takes */
    const char *const *journal_fields; /* outputs copied into each attempt_end record */
    unsigned flags;               /* RB_AT_* */
    const struct rb_action_ops *ops; /* what runs it (runbook/action.h) */
} rb_action_type;

#define RB_AT_CALLS_RUNBOOK 1u /* the executor runs the called runbook itself */
#define RB_AT_SELF_TIMED 2u    /* bounds itself (sleep; a called runbook by its own timeouts and
                                  deadline): defaults.timeout does not apply, its own timeout does */
#define RB_AT_SELF_UNDO 4u     /* undoes itself without a rollback block (file: the old content
                                  comes back); its ops have an undo */

/* The registry, in a fixed order; NULL-terminated. */
extern const rb_action_type *const rb_action_types[];
const rb_action_type *rb_action_type_find(const char *name);
/* Index of `key` in type->params, or -1. */
int rb_action_param_index(const rb_action_type *t, const char *key);

/* Outputs every step has, whatever its action. */
extern const char *const rb_common_outputs[];

/* ---- The model ---- */

typedef enum { RB_POLICY_UNSET, RB_POLICY_ABORT, RB_POLICY_ROLLBACK, RB_POLICY_CONTINUE } rb_policy;
typedef enum { RB_SEVERITY_INFO, RB_SEVERITY_LOW, RB_SEVERITY_HIGH, RB_SEVERITY_CRITICAL } rb_severity_level;
typedef enum { RB_IN_STRING, RB_IN_INT, RB_IN_BOOL, RB_IN_URL, RB_IN_ENUM, RB_IN_DURATION } rb_input_type;
typedef enum { RB_TARGET_POSTGRES, RB_TARGET_SSH, RB_TARGET_HTTP } rb_target_kind;
typedef enum { RB_CAP_RE, RB_CAP_JSON, RB_CAP_COLUMN } rb_capture_kind;

#define RB_NO_DURATION (-1LL)   /* a duration that is absent (durations are never negative) */
#define RB_DYNAMIC (-LLONG_MAX - 1) /* a duration or int given as ${{ }}: known only at run time;
                                      no literal reads as this value (rb_scalar_int refuses it) */

typedef struct rb_action {
    const rb_action_type *type;       /* NULL for a manual (confirm-only) step */
    const rb_node *key;               /* the action key, for locations */
    const rb_node *value;             /* the value as written */
    const rb_node *params[RB_MAX_PARAMS]; /* by index in type->params; NULL when absent */
} rb_action;

/* The node of parameter `key`, or NULL. */
const rb_node *rb_action_param(const rb_action *a, const char *key);

typedef struct rb_input {
    const char *name;
    const rb_node *node;
    rb_input_type type;
    const char *description;
    const rb_node *def; /* default scalar, or NULL: required */
    int has_min, has_max;
    long long min, max; /* ints, or milliseconds for durations */
    const rb_node *values;  /* enum values: a sequence of scalars */
    const rb_node *pattern; /* a regex scalar, or NULL */
} rb_input;

typedef struct rb_secret {
    const char *name;
    const rb_node *node;
    const char *env, *file, *description;
} rb_secret;

typedef struct rb_target {
    const char *name;
    const rb_node *node;
    rb_target_kind kind;
    const rb_node *params; /* the map under postgres:/ssh:/http: */
} rb_target;

typedef struct rb_retry {
    const rb_node *node;  /* NULL: no retry */
    const rb_node *attempts_node;
    long long attempts;   /* RB_DYNAMIC when a template */
    long long delay_ms, max_delay_ms, jitter_ms; /* RB_NO_DURATION / RB_DYNAMIC possible */
    const rb_node *delay_node, *max_delay_node, *jitter_node; /* for RB_DYNAMIC, or NULL */
    double backoff;
    const rb_node *until;     /* expression scalar or NULL */
    const rb_node *on_errors; /* sequence or NULL */
} rb_retry;

typedef struct rb_capture {
    const char *name;
    const rb_node *node; /* the spec's scalar ("re:...") */
    rb_capture_kind kind;
    const char *arg;     /* after the prefix */
    size_t arg_offset;   /* byte offset of arg in the scalar's value */
    int secret;
} rb_capture;

typedef struct rb_precondition {
    const rb_node *expr;    /* expression scalar */
    const char *message;
} rb_precondition;

/* An action with what may accompany it: a step's own, a rollback or a verify block. */
typedef struct rb_block {
    const rb_node *node;
    rb_action action;
    long long timeout_ms;
    const rb_node *timeout_node;
    const rb_node *expect;  /* map or NULL */
    rb_capture *captures;
    size_t ncaptures;
} rb_block;

typedef struct rb_step {
    const char *id;
    size_t index;
    const rb_node *node, *id_node;
    const char *title, *description, *confirm;
    const rb_node *title_node; /* may hold ${{ }}, rendered when shown */
    const rb_node *confirm_node;
    int confirm_person;        /* confirm_by: person: --yes does not answer it */
    const rb_node *needs_node; /* sequence, or NULL: after every step above */
    const rb_node *when;       /* expression scalar or NULL */
    rb_precondition *preconditions;
    size_t npreconditions;
    rb_block main;             /* main.action.type NULL: a manual step */
    int writes;                /* effect after defaults */
    const rb_node *effect_node;
    int irreversible, destructive, idempotent;
    const rb_node *destructive_node, *irreversible_node;
    rb_retry retry;
    rb_policy on_failure;      /* after the runbook's default */
    const rb_node *on_failure_node;
    rb_block *rollback, *verify; /* NULL when absent */
    const rb_node *dry_run;    /* map or NULL */
    const rb_node *for_each;   /* expression scalar or sequence of templates, or NULL */
    const char *each_as;       /* the item's name under `each` ("item" by default) */
    int each_parallel;         /* items at once (parallel:, bounded by --jobs); 1: one by one */
} rb_step;

#define RB_MAX_ITEMS 1000 /* items of one for_each */
#define RB_MAX_PARALLEL 32 /* items of one for_each at once */

/* A figure worth reporting (top-level `report:`): one journaled output of one step, shown by
 * `runbook report` and, with an objective, compared against it. */
typedef enum { RB_FIGURE_NONE, RB_FIGURE_RTO, RB_FIGURE_RPO } rb_figure_objective;

typedef struct rb_figure {
    const char *label;
    const char *step, *field;      /* value: steps.STEP.FIELD (owned by the figure's `ref`) */
    char *ref;                     /* "STEP\0FIELD", malloc'd */
    rb_figure_objective objective; /* with one, the value is a duration */
    const char *unit;              /* display unit; with an objective "ms" (default) or "s" */
    const rb_node *node, *value_node, *objective_node;
} rb_figure;

typedef struct rb_runbook {
    rb_doc *doc;
    const char *path;     /* as given */
    const char *name, *title, *description, *lock;
    const rb_node *name_node;
    rb_severity_level severity;
    long long rto_ms, rpo_ms, deadline_ms;
    const rb_node *deadline_node, *default_timeout_node; /* for RB_DYNAMIC, or NULL */
    rb_policy on_failure;
    long long default_timeout_ms;
    rb_retry default_retry;
    const rb_node *tags;
    rb_input *inputs;
    size_t ninputs;
    rb_secret *secrets;
    size_t nsecrets;
    rb_target *targets;
    size_t ntargets;
    rb_step *steps;
    size_t nsteps;
    rb_figure *figures; /* report: */
    size_t nfigures;
    size_t errors; /* structural errors found while building */
} rb_runbook;

/* Builds the model of a loaded document, appending every structural error to `d`.
 * Takes ownership of `doc` (freed by rb_runbook_free). Always returns a model, possibly
 * partial where the input was wrong; rb->errors counts the errors it added.
 * NULL only when out of memory. */
rb_runbook *rb_model_build(rb_doc *doc, rb_diags *d);
void rb_runbook_free(rb_runbook *rb);

/* Convenience: load + build. NULL (and errors in `d`) when the file cannot be loaded. */
rb_runbook *rb_runbook_load(const char *path, rb_diags *d);

const rb_step *rb_runbook_step(const rb_runbook *rb, const char *id);
const rb_input *rb_runbook_input(const rb_runbook *rb, const char *name);
const rb_secret *rb_runbook_secret(const rb_runbook *rb, const char *name);
const rb_target *rb_runbook_target(const rb_runbook *rb, const char *name);

const char *rb_policy_name(rb_policy p);
const char *rb_severity_name(rb_severity_level s);
const char *rb_input_type_name(rb_input_type t);
const char *rb_target_kind_name(rb_target_kind k);
const char *rb_figure_objective_name(rb_figure_objective o); /* "none", "rto", "rpo" */

/* Scalar helpers shared by the checker and the executor. */
int rb_scalar_bool(const rb_node *n, int *out);        /* 0 ok, -1 not a bool */
int rb_scalar_int(const rb_node *n, long long *out);   /* 0 ok, -1 not an int */
int rb_scalar_has_template(const rb_node *n);          /* holds "${{" */

/* "a" or "an" before an action or target name, as read aloud ("an http", "a shell"). */
const char *rb_article(const char *word);

/* Closest of `candidates` (NULL-terminated) to `word` by edit distance, or NULL if none is
 * close enough to suggest. */
const char *rb_suggest(const char *word, const char *const *candidates);

#endif
