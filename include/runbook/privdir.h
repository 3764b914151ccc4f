/* Private folders: the state folder and the folders under it (runs/, locks/, a run's side
 * folder), which only their user may change, since what is in them is trusted to run code. */
#ifndef RUNBOOK_PRIVDIR_H
#define RUNBOOK_PRIVDIR_H

#include <stddef.h>

/* Create what is missing (mode 0700, parents too). */
#define RB_PRIVDIR_CREATE 1
/* The folder itself must not be a symlink (folders under the state folder; the state folder
 * may be a link to a private folder of its user). */
#define RB_PRIVDIR_NOFOLLOW 2

/* Checks that `path` is a folder owned by the effective user that neither group nor others may
 * write, creating it first with RB_PRIVDIR_CREATE. Returns 0, or -1 with errno (EPERM for a
 * folder refused) and, when err is not NULL, a sentence naming the folder and why. */
int rb_privdir_check(const char *path, int flags, char *err, size_t errlen);

#endif
