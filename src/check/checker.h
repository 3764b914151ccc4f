/* Private to src/check: the state shared by the checker's parts. */
#ifndef RUNBOOK_CHECKER_H
#define RUNBOOK_CHECKER_H

#include "runbook/check.h"
#include "runbook/expr.h"

typedef struct checker {
    const rb_runbook *rb;
    const rb_graph *g; /* NULL-safe: rules needing order are skipped when it has a cycle */
    rb_catalog *cat;
    rb_diags *d;
    /* Per step, computed once: the steps whose outcome its own `when` reads (see refs.c). */
    char *guards_done;
    size_t **guards, *nguards;
    const rb_step *each_step; /* while checking what a for_each step repeats: `each` is set */
    /* Target fields already warned as unguarded-null (a target is checked once per using step). */
    const rb_node *unguarded_targets[16];
    size_t nunguarded_targets;
} checker;

/* Where an expression stands, which decides what it may read. */
typedef enum {
    SCOPE_TARGET, /* inputs, secrets, env, run, runbook; steps exist (their order: below) */
    SCOPE_TARGET_USE, /* a target as one step uses it: only its step references, each an ancestor */
    SCOPE_STEP,   /* also the outputs of ancestor steps */
    SCOPE_SELF    /* also the outputs of the step itself (rollback, verify, retry.until) */
} ref_scope;

/* What the references of one checked text turned out to be, for the lint rules. */
typedef struct ref_summary {
    int parsed;       /* the text parsed */
    int secret;       /* reads a secret or a secret capture */
    int constant;     /* an expression with no references at all */
} ref_summary;

void c_error(checker *c, const rb_node *n, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void c_warn(checker *c, const rb_node *n, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A template scalar (text with ${{ }} parts). */
ref_summary c_template(checker *c, const rb_node *n, const rb_step *step, ref_scope scope);
/* An expression scalar (when, assert, until), with or without ${{ }} around it. */
ref_summary c_expression(checker *c, const rb_node *n, const rb_step *step, ref_scope scope);
/* The static type of one expression of template scalar `n`. */
rb_static_type c_static_type(checker *c, const rb_node *n, const rb_expr *e);
/* Every scalar under `n` as a template. */
ref_summary c_template_tree(checker *c, const rb_node *n, const rb_step *step, ref_scope scope);

void c_actions(checker *c);
void c_lint(checker *c);
void lint_secret_in_argv(checker *c, const rb_node *item, const ref_summary *sum);
/* argv-option: an argv item after the program that is one ${{ }} alone, before any "--". */
void lint_argv_option(checker *c, const rb_node *item);
/* A shell script's ${{ }} that become a command's words (parts[] from rb_shell_scan, one per
 * template part) and read a secret. */
void lint_secret_in_shell(checker *c, const rb_node *n, const rb_template *t, const rb_shell_part *parts);
void lint_unreachable(checker *c, const rb_step *s, const ref_summary *sum);
void c_calls(checker *c, const rb_step *s, const rb_action *a);
/* A regex scalar; `skip` bytes of prefix (such as "re:") are not part of the pattern. Returns
 * the number of groups, or -1 when it does not compile (reported). */
int c_regex(checker *c, const rb_node *n, size_t skip);

/* Waives the warnings from index `from` on that a `# runbook: allow RULE — reason` comment
 * covers (waive.c). */
void c_waivers(checker *c, size_t from);

#endif
