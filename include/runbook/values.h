/* Values that expressions read: typed input values and the fixed names (run, runbook).
 * Shared by `plan` (static) and `run` (live). */
#ifndef RUNBOOK_VALUES_H
#define RUNBOOK_VALUES_H

#include <jansson.h>

#include "runbook/expr.h"
#include "runbook/model.h"

/* The typed JSON value of input text already checked by rb_input_check: int -> integer,
 * bool -> boolean, duration -> integer milliseconds, others -> string. New reference. */
json_t *rb_input_value(const rb_input *in, const char *text);

/* The `inputs` object: for each declared input, get(ctx, name) if it returns non-NULL, else
 * its default, else rb_unknown() (a required input not given). New reference. */
json_t *rb_inputs_object(const rb_runbook *rb, const char *(*get)(void *ctx, const char *name), void *ctx);

/* The `runbook` object: name, objectives.rto/.rpo in milliseconds (null when absent). */
json_t *rb_runbook_object(const rb_runbook *rb);

/* Renders a template scalar for display or use; on unknown parts returns NULL with *unknown
 * set; on an evaluation error returns NULL with a message in err. */
char *rb_render_node(const rb_node *n, const rb_scope *scope, int *unknown, char *err, size_t errlen);

#endif
