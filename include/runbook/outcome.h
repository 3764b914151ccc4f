/* The outcomes of steps, attempts and runs: one set everywhere (journal, terminal, expressions,
 * actions). Its own header, so that an action reads it without the executor's API. */
#ifndef RUNBOOK_OUTCOME_H
#define RUNBOOK_OUTCOME_H

typedef enum {
    RB_OUT_NOT_RUN,
    RB_OUT_SUCCEEDED,
    RB_OUT_FAILED,
    RB_OUT_TIMED_OUT,
    RB_OUT_SKIPPED,
    RB_OUT_CANCELLED,
    RB_OUT_ROLLED_BACK
} rb_outcome;

const char *rb_outcome_name(rb_outcome o);
/* The outcome in plain words for a person ("timed out", "interrupted"): the terminal's words;
 * the journal and expressions keep rb_outcome_name's. */
const char *rb_outcome_words(rb_outcome o);
/* RB_OUT_NOT_RUN for an unknown name. */
rb_outcome rb_outcome_parse(const char *name);

#endif
