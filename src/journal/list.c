/* Listing runs: one summary per journal, and the run's lock for runs that have not ended. */
#include "journal/journal_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSONL ".jsonl"

typedef struct names {
    char **items;
    size_t count, cap;
} names;

static void names_free(names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->items[i]);
    free(n->items);
}

static int names_add(names *n, const char *s, size_t len)
{
    if (n->count == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 64;
        char **items = realloc(n->items, cap * sizeof *items);
        if (!items)
            return -1;
        n->items = items;
        n->cap = cap;
    }
    if (!(n->items[n->count] = strndup(s, len)))
        return -1;
    n->count++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run ids of <state>/runs/<run-id>.jsonl, sorted (run ids sort by start time). */
static int list_run_ids(const char *runs_dir, names *out)
{
    DIR *d = opendir(runs_dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name), ext = sizeof JSONL - 1;
        if (n <= ext || strcmp(e->d_name + n - ext, JSONL) != 0)
            continue;
        char id[RB_RUN_ID_MAX];
        if (n - ext >= sizeof id)
            continue;
        snprintf(id, sizeof id, "%.*s", (int)(n - ext), e->d_name);
        if (rb_run_id_valid(id))
            rc = names_add(out, id, n - ext);
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    if (rc == 0)
        qsort(out->items, out->count, sizeof *out->items, by_name);
    return rc;
}

typedef struct scan_state {
    rb_run_summary *s;
    char lock[RB_LOCK_NAME_MAX + 1];
    int64_t start_ms, last_ms;
    int ended;
} scan_state;

static void copy_string(char *dst, size_t size, json_t *v)
{
    if (json_is_string(v))
        snprintf(dst, size, "%s", json_string_value(v));
}

static int scan_record(json_t *rec, void *ud)
{
    scan_state *st = ud;
    const char *type = json_string_value(json_object_get(rec, "type"));
    json_t *ts = json_object_get(rec, "ts");
    int64_t ms;
    int timed = journal_parse_ts(json_string_value(ts), &ms) == 0;
    if (!strcmp(type, "run_start")) {
        copy_string(st->s->runbook, sizeof st->s->runbook, json_object_get(rec, "runbook"));
        copy_string(st->s->started, sizeof st->s->started, ts);
        copy_string(st->lock, sizeof st->lock, json_object_get(rec, "lock"));
        st->s->dry_run = json_is_true(json_object_get(rec, "dry_run"));
        st->start_ms = timed ? ms : -1;
    }
    if (!strcmp(type, "resume")) /* a failed run resumed (--retry-failed, --mark-done) is open again */
        st->ended = 0;
    if (timed && !st->ended)
        st->last_ms = ms;
    if (!strcmp(type, "run_end") && !st->ended) {
        snprintf(st->s->status, sizeof st->s->status, "finished");
        copy_string(st->s->status, sizeof st->s->status, json_object_get(rec, "status"));
        st->ended = 1;
    }
    return 0;
}

/* A run without run_end is running if it holds its lock now, else it was interrupted. */
static const char *open_run_status(const char *state_dir, const scan_state *st)
{
    rb_lock_holder h;
    if (st->lock[0] && rb_lock_query(state_dir, st->lock, &h) == 1 &&
        !strcmp(h.run_id, st->s->run_id))
        return "running";
    return "interrupted";
}

static void summarize(const char *state_dir, const char *run_id, rb_run_summary *s)
{
    scan_state st = {.s = s, .start_ms = -1, .last_ms = -1};
    rb_journal_read_info info = {0};
    memset(s, 0, sizeof *s);
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    s->duration_ms = -1;
    char *path = rb_journal_path_of(state_dir, run_id);
    rb_journal_status rc = path ? rb_journal_read(path, scan_record, &st, &info) : RB_JOURNAL_EIO;
    free(path);
    s->torn_tail = info.torn_tail;
    if (rc != RB_JOURNAL_OK) {
        snprintf(s->status, sizeof s->status, rc == RB_JOURNAL_EIO ? "unreadable" : "corrupt");
        return;
    }
    if (!st.ended)
        snprintf(s->status, sizeof s->status, "%s", open_run_status(state_dir, &st));
    if (st.start_ms >= 0 && st.last_ms >= st.start_ms)
        s->duration_ms = st.last_ms - st.start_ms;
}

/* Run ids sort by their start to the second only (then by runbook name and a random tail); runs
 * started within one second are put in the order of their run_start's millisecond time (ISO 8601
 * sorts as text; an unreadable one first), so `last` is the newest. */
#define RUN_ID_SECOND 16 /* "20261121T234512Z" */

static int by_start(const void *a, const void *b)
{
    const rb_run_summary *x = a, *y = b;
    int c = strncmp(x->run_id, y->run_id, RUN_ID_SECOND);
    if (!c)
        c = strcmp(x->started, y->started);
    return c ? c : strcmp(x->run_id, y->run_id);
}

int rb_journal_list(const char *state_dir, rb_run_summary **runs, size_t *count)
{
    names ids = {0};
    *runs = NULL;
    *count = 0;
    char *runs_dir = state_dir && *state_dir ? journal_printf("%s/runs", state_dir) : NULL;
    if (!runs_dir || list_run_ids(runs_dir, &ids) < 0) {
        int saved = runs_dir ? errno : EINVAL;
        free(runs_dir);
        names_free(&ids);
        errno = saved;
        return -1;
    }
    free(runs_dir);
    size_t skip = ids.count > RB_JOURNAL_LIST_MAX ? ids.count - RB_JOURNAL_LIST_MAX : 0;
    size_t n = ids.count - skip;
    rb_run_summary *out = n ? calloc(n, sizeof *out) : NULL;
    if (n && !out) {
        names_free(&ids);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        summarize(state_dir, ids.items[skip + i], &out[i]);
    names_free(&ids);
    if (n)
        qsort(out, n, sizeof *out, by_start);
    *runs = out;
    *count = n;
    return 0;
}
