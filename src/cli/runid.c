/* What the operator may type for a RUN, resolved in one place for every command: a run id,
 * `last` (the newest run), a runbook's name (its newest run) or a unique prefix of a run id. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runbook/journal.h"
#include "runbook/show.h"

#define CANDIDATES_SHOWN 8

/* An exact run id whose journal exists: no listing needed. */
static int journal_exists(const char *state_dir, const char *id)
{
    char *path = rb_run_id_valid(id) ? rb_journal_path_of(state_dir, id) : NULL;
    int ok = path && access(path, F_OK) == 0;
    free(path);
    return ok;
}

/* The newest run whose runbook is `name`, or -1. */
static long newest_of(const rb_run_summary *runs, size_t n, const char *name)
{
    for (size_t i = n; i-- > 0;)
        if (!strcmp(runs[i].runbook, name))
            return (long)i;
    return -1;
}

static void list_candidates(const char *cmd, const char *arg, const rb_run_summary *runs, size_t n, size_t matches)
{
    rb_showf(stderr, NULL, "runbook %s: '%s' is the start of %zu run ids; give more of it:\n", cmd, arg, matches);
    size_t shown = 0;
    for (size_t i = n; i-- > 0 && shown < CANDIDATES_SHOWN;)
        if (!strncmp(runs[i].run_id, arg, strlen(arg))) {
            rb_showf(stderr, NULL, "  %s  %s  %s\n", runs[i].run_id, runs[i].runbook, runs[i].status);
            shown++;
        }
    if (matches > shown)
        rb_showf(stderr, NULL, "  ... and %zu more (see 'runbook runs')\n", matches - shown);
}

/* The index the prefix names, -1 when none, -2 when several (listed). */
static long by_prefix(const char *cmd, const char *arg, const rb_run_summary *runs, size_t n)
{
    size_t matches = 0, at = 0, len = strlen(arg);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(runs[i].run_id, arg, len))
            matches++, at = i;
    if (matches > 1)
        list_candidates(cmd, arg, runs, n, matches);
    return matches == 1 ? (long)at : matches ? -2 : -1;
}

static long pick(const char *cmd, const char *arg, const rb_run_summary *runs, size_t n)
{
    if (!strcmp(arg, "last"))
        return n ? (long)n - 1 : -1;
    long i = newest_of(runs, n, arg);
    return i >= 0 || !*arg ? i : by_prefix(cmd, arg, runs, n);
}

int cli_run_id(const char *state_dir, const char *arg, const char *cmd, char *buf, size_t len)
{
    if (state_dir && journal_exists(state_dir, arg)) {
        snprintf(buf, len, "%s", arg);
        return EXIT_OK;
    }
    rb_run_summary *runs = NULL;
    size_t n = 0;
    if (!state_dir || rb_journal_list(state_dir, &runs, &n) != 0) {
        rb_showf(stderr, NULL, "runbook %s: cannot list the runs under %s\n", cmd, state_dir ? state_dir : "(no state folder)");
        return EXIT_USAGE;
    }
    long i = pick(cmd, arg, runs, n);
    if (i >= 0)
        snprintf(buf, len, "%s", runs[i].run_id);
    else if (i == -1)
        rb_showf(stderr, NULL, "runbook %s: no run '%s'%s (a run id, a unique start of one, 'last', or a runbook's "
                 "name for its newest run): see 'runbook runs'\n", cmd, arg, n ? "" : ", and no runs yet");
    free(runs);
    return i >= 0 ? EXIT_OK : EXIT_USAGE;
}
