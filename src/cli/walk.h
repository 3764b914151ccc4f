/* Private to the command line: which files `validate` looks at. */
#ifndef RUNBOOK_CLI_WALK_H
#define RUNBOOK_CLI_WALK_H

#include <stddef.h>

/* Ignore patterns, each relative to the folder of the file (or command line) that gave it.
 * Syntax as in .gitignore, reduced: blank lines and # comments skipped; a pattern with a
 * trailing "/" matches a folder and everything under it; a pattern with no "/" matches a
 * name at any depth; otherwise it is matched (fnmatch, FNM_PATHNAME) against the path from
 * its base folder. */
typedef struct walk_ignore {
    char **bases, **patterns;
    size_t count;
} walk_ignore;

void walk_ignore_init(walk_ignore *w);
void walk_ignore_cleanup(walk_ignore *w);
int walk_ignore_add(walk_ignore *w, const char *base, const char *pattern);
/* Reads `dir`/.runbookignore if present; 0 when absent or read. */
int walk_ignore_read(walk_ignore *w, const char *dir);
int walk_ignored(const walk_ignore *w, const char *path, int is_dir);

typedef struct walk_files {
    char **paths;
    char *failed; /* per path, filled by the caller */
    char *named;  /* per path: 1 when named on the command line, 0 when found in a folder */
    size_t count;
} walk_files;

/* Expands the command line's paths: files as given, folders recursively (sorted, hidden
 * folders skipped) over *.yaml and *.yml; .runbookignore of the current folder and of each
 * given folder apply. Returns 0, or EXIT_USAGE after printing "runbook WHO: PATH: no such
 * file or folder". */
int walk_collect(const char *who, char **paths, int n, walk_ignore *ign, walk_files *out);

/* 1 when the file is a runbook: its top level has a `runbook` key, or it does not load as
 * YAML at all (then checking it is what shows the user why). 0 for other YAML (a CI workflow,
 * a compose file), which a folder walk skips. */
int walk_is_runbook(const char *path);
void walk_files_free(walk_files *f);

#endif
