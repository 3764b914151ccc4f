/* Outcome names: the journal's and the expressions' words, and the terminal's. */
#include <string.h>

#include "runbook/outcome.h"

static const char *const outcome_names[] = {"not_run", "succeeded", "failed", "timed_out",
                                            "skipped", "cancelled", "rolled_back"};

static const char *const outcome_words[] = {"not run", "succeeded", "failed", "timed out",
                                            "skipped", "interrupted", "rolled back"};

const char *rb_outcome_name(rb_outcome o) { return outcome_names[o]; }

const char *rb_outcome_words(rb_outcome o) { return outcome_words[o]; }

rb_outcome rb_outcome_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof outcome_names / sizeof *outcome_names; i++)
        if (!strcmp(name, outcome_names[i]))
            return (rb_outcome)i;
    return RB_OUT_NOT_RUN;
}
