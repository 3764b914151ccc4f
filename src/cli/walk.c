/* Collecting the files `validate` checks: folder walks, extensions and .runbookignore. */
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "runbook/node.h"
#include "walk.h"
#include "runbook/show.h"

#define MAX_FILES 100000
#define MAX_DEPTH 32

void walk_ignore_init(walk_ignore *w) { memset(w, 0, sizeof *w); }

void walk_ignore_cleanup(walk_ignore *w)
{
    for (size_t i = 0; i < w->count; i++) {
        free(w->bases[i]);
        free(w->patterns[i]);
    }
    free(w->bases);
    free(w->patterns);
    memset(w, 0, sizeof *w);
}

/* "./a/b" and "a/b" name the same thing; patterns compare against the plain form. */
static const char *plain(const char *p)
{
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    return p;
}

int walk_ignore_add(walk_ignore *w, const char *base, const char *pattern)
{
    char **b = realloc(w->bases, (w->count + 1) * sizeof *b);
    if (b)
        w->bases = b;
    char **p = realloc(w->patterns, (w->count + 1) * sizeof *p);
    if (p)
        w->patterns = p;
    if (!b || !p)
        return -1;
    w->bases[w->count] = strdup(plain(base));
    w->patterns[w->count] = strdup(plain(pattern));
    w->count++;
    return 0;
}

int walk_ignore_read(walk_ignore *w, const char *dir)
{
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/.runbookignore", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s && *s != '#')
            walk_ignore_add(w, dir, s);
    }
    fclose(f);
    return 0;
}

/* The path relative to `base`, or NULL when it is not under it. */
static const char *relative_to(const char *path, const char *base)
{
    if (!*base || !strcmp(base, "."))
        return path;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    if (strncmp(path, base, n) || (path[n] != '/' && path[n]))
        return NULL;
    return path[n] == '/' ? path + n + 1 : path + n;
}

static int match_one(const char *pattern, const char *rel, int is_dir)
{
    size_t len = strlen(pattern);
    char pat[1024];
    snprintf(pat, sizeof pat, "%s", pattern);
    int dir_only = len && pat[len - 1] == '/';
    if (dir_only)
        pat[len - 1] = 0;
    if (!strchr(pat, '/')) {
        const char *name = strrchr(rel, '/');
        return (!dir_only || is_dir) && fnmatch(pat, name ? name + 1 : rel, 0) == 0;
    }
    const char *p = pat[0] == '/' ? pat + 1 : pat;
    return (!dir_only || is_dir) && fnmatch(p, rel, FNM_PATHNAME) == 0;
}

int walk_ignored(const walk_ignore *w, const char *path, int is_dir)
{
    path = plain(path);
    for (size_t i = 0; i < w->count; i++) {
        const char *rel = relative_to(path, w->bases[i]);
        if (rel && *rel && match_one(w->patterns[i], rel, is_dir))
            return 1;
    }
    return 0;
}

static int is_runbook_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int add_file(walk_files *f, const char *path, int named)
{
    if (f->count >= MAX_FILES)
        return 0;
    char **p = realloc(f->paths, (f->count + 1) * sizeof *p);
    if (!p)
        return -1;
    f->paths = p;
    char *failed = realloc(f->failed, f->count + 1);
    if (!failed)
        return -1;
    f->failed = failed;
    f->failed[f->count] = 0;
    char *given = realloc(f->named, f->count + 1);
    if (!given)
        return -1;
    f->named = given;
    f->named[f->count] = (char)named;
    f->paths[f->count++] = strdup(path);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void walk_dir(const char *dir, const walk_ignore *ign, walk_files *out, int depth)
{
    struct dirent **names;
    int n = depth < MAX_DEPTH ? scandir(dir, &names, NULL, by_name) : -1;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
        if (name[0] != '.' && stat(path, &st) == 0) {
            int is_dir = S_ISDIR(st.st_mode);
            if (!walk_ignored(ign, path, is_dir)) {
                if (is_dir)
                    walk_dir(path, ign, out, depth + 1);
                else if (S_ISREG(st.st_mode) && is_runbook_name(name))
                    add_file(out, path, 0);
            }
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

int walk_collect(const char *who, char **paths, int n, walk_ignore *ign, walk_files *out)
{
    walk_ignore_read(ign, ".");
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            rb_showf(stderr, NULL, "runbook %s: %s: no such file or folder\n", who, paths[i]);
            return EXIT_USAGE;
        }
        if (S_ISDIR(st.st_mode) && strcmp(plain(paths[i]), ".") && strcmp(paths[i], "."))
            walk_ignore_read(ign, paths[i]);
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        stat(paths[i], &st);
        if (walk_ignored(ign, paths[i], S_ISDIR(st.st_mode)))
            continue;
        if (S_ISDIR(st.st_mode))
            walk_dir(paths[i], ign, out, 0);
        else
            add_file(out, paths[i], 1);
    }
    return 0;
}

void walk_files_free(walk_files *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->failed);
    free(f->named);
    memset(f, 0, sizeof *f);
}

/* A line "runbook:" at the left margin answers at once; only files without one are parsed
 * (a runbook may quote its keys or use flow style). */
static int has_runbook_line(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int found = 0, at_start = 1; /* a long line comes in several pieces */
    while (f && !found && fgets(line, sizeof line, f)) {
        found = at_start && !strncmp(line, "runbook:", 8);
        at_start = strchr(line, '\n') != NULL;
    }
    if (f)
        fclose(f);
    return found;
}

int walk_is_runbook(const char *path)
{
    if (has_runbook_line(path))
        return 1;
    rb_diags quiet;
    rb_diags_init(&quiet);
    rb_doc *doc = rb_load_file(path, &quiet);
    int yes = !doc || rb_map_get(rb_doc_root(doc), "runbook") != NULL;
    rb_doc_free(doc);
    rb_diags_cleanup(&quiet);
    return yes;
}
