/* Appending to a run's journal: one checksummed record per write(), its free text masked,
 * synced at once. */
#include "journal/journal_int.h"
#include "runbook/privdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Draws of a fresh run id when the file name is taken (same second, same name, same draw). */
#define CREATE_TRIES 16

static rb_journal *journal_new(const char *state_dir, const char *run_id)
{
    rb_journal *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    snprintf(j->run_id, sizeof j->run_id, "%s", run_id);
    j->runs_dir = journal_printf("%s/runs", state_dir);
    j->path = journal_printf("%s/runs/%s.jsonl", state_dir, run_id);
    if (!j->runs_dir || !j->path) {
        rb_journal_close(j);
        errno = ENOMEM;
        return NULL;
    }
    return j;
}

void rb_journal_close(rb_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0 && j->pending && !j->broken)
        fdatasync(j->fd); /* best effort: a caller that must know calls rb_journal_sync */
    if (j->fd >= 0)
        close(j->fd);
    pthread_mutex_destroy(&j->mu);
    free(j->path);
    free(j->runs_dir);
    free(j);
}

/* Opens a new journal file under a fresh run id; EEXIST when the name was taken. */
static int create_once(const char *state_dir, const char *runbook, rb_journal **out)
{
    char id[RB_RUN_ID_MAX];
    if (rb_run_id_new(runbook, id, sizeof id) < 0)
        return -1;
    rb_journal *j = journal_new(state_dir, id);
    if (!j)
        return -1;
    if (rb_privdir_check(state_dir, RB_PRIVDIR_CREATE, NULL, 0) < 0 || journal_make_dirs(j->runs_dir) < 0)
        goto fail;
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->fd < 0 || journal_sync_dir(j->runs_dir) < 0)
        goto fail;
    *out = j;
    return 0;
fail:;
    int saved = errno;
    rb_journal_close(j);
    errno = saved;
    return -1;
}

int rb_journal_create(const char *state_dir, const char *runbook, rb_journal **out)
{
    if (!state_dir || !*state_dir) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < CREATE_TRIES; i++) {
        if (create_once(state_dir, runbook, out) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Cuts a torn last record off, so the next record follows the last good one. */
static int cut_torn_tail(int fd, const rb_journal_read_info *info)
{
    if (!info->torn_tail)
        return 0;
    if (ftruncate(fd, info->good_size) < 0)
        return -1;
    return fdatasync(fd);
}

/* A journal is trusted only in the user's private folders and as the user's own file. */
static int open_existing(rb_journal *j, const char *state_dir)
{
    struct stat st;
    if (rb_privdir_check(state_dir, 0, NULL, 0) < 0 || rb_privdir_check(j->runs_dir, RB_PRIVDIR_NOFOLLOW, NULL, 0) < 0)
        return -1;
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (j->fd < 0)
        return -1;
    if (fstat(j->fd, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if (st.st_uid != geteuid()) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

int rb_journal_reopen(const char *state_dir, const char *run_id, rb_journal **out,
                      json_t **records, rb_journal_read_info *info)
{
    rb_journal_read_info local;
    json_t *recs = NULL;
    if (!info)
        info = &local;
    if (!state_dir || !*state_dir || !rb_run_id_valid(run_id)) {
        errno = EINVAL;
        return -1;
    }
    rb_journal *j = journal_new(state_dir, run_id);
    if (!j || open_existing(j, state_dir) < 0)
        goto fail;
    rb_journal_status st = rb_journal_load(j->path, &recs, info);
    if (st != RB_JOURNAL_OK) {
        if (st != RB_JOURNAL_EIO)
            errno = EBADMSG;
        goto fail;
    }
    if (cut_torn_tail(j->fd, info) < 0)
        goto fail;
    j->size = info->good_size;
    j->last_seq = info->records;
    if (records)
        *records = json_incref(recs);
    json_decref(recs);
    *out = j;
    return 0;
fail:;
    int saved = errno;
    json_decref(recs);
    rb_journal_close(j);
    errno = saved;
    return -1;
}

const char *rb_journal_run_id(const rb_journal *j)
{
    return j->run_id;
}

const char *rb_journal_path(const rb_journal *j)
{
    return j->path;
}

void rb_journal_set_masker(rb_journal *j, const rb_masker *m)
{
    pthread_mutex_lock(&j->mu);
    j->masker = m;
    pthread_mutex_unlock(&j->mu);
}

uint64_t rb_journal_last_seq(const rb_journal *j)
{
    pthread_mutex_t *mu = &((rb_journal *)j)->mu; /* the one member a reader changes */
    pthread_mutex_lock(mu);
    uint64_t seq = j->last_seq;
    pthread_mutex_unlock(mu);
    return seq;
}

/* A copy of v with every string masked (and made valid UTF-8 again: a secret's bytes may end
 * in the middle of a character). The keys of v itself are kept when `keep_keys` (output names,
 * variable names: the runbook's own); keys deeper down came from outside (a JSON body's, a
 * row's columns) and are masked like values. New reference, or NULL when out of memory. */
static json_t *masked_copy(json_t *v, const rb_masker *m, int keep_keys)
{
    json_t *copy, *item;
    const char *key;
    size_t i, n;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        char *s = rb_mask_apply(m, json_string_value(v), json_string_length(v), &n);
        copy = s ? rb_json_string_lossy(s, n) : NULL;
        free(s);
        return copy;
    }
    case JSON_OBJECT:
        copy = json_object();
        json_object_foreach (v, key, item) {
            char *k = keep_keys ? strdup(key) : rb_mask_apply(m, key, strlen(key), &n);
            int bad = !copy || !k || json_object_set_new(copy, k, masked_copy(item, m, 0)) < 0;
            free(k);
            if (bad)
                goto fail;
        }
        return copy;
    case JSON_ARRAY:
        copy = json_array();
        json_array_foreach (v, i, item)
            if (!copy || json_array_append_new(copy, masked_copy(item, m, 0)) < 0)
                goto fail;
        return copy;
    case JSON_INTEGER:
    case JSON_REAL: {
        /* a secret can be a number (a PIN captured with secret: true) */
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        char *s = text ? rb_mask_apply(m, text, strlen(text), &n) : NULL;
        copy = !s ? NULL : strcmp(s, text) ? json_string(RB_MASK_TEXT) : json_incref(v);
        free(text);
        free(s);
        return copy;
    }
    default:
        return json_incref(v); /* true, false and null hold nothing */
    }
fail:
    json_decref(copy);
    return NULL;
}

/* The fields whose text comes from outside the runbook: what commands and servers said
 * (outputs and their parts), messages, and what an action was given. Only these are masked.
 * Every other field is the journal's structure (step keys, outcomes, counters, the hash, the
 * inputs the operator typed): masking a secret that happens to occur in one would make a
 * resume miss a step, read a wrong input or refuse the runbook as changed. */
static int free_text_field(const char *key)
{
    static const char *const names[] = {"message", "reason", "outputs", "stdout", "stderr",
                                        "body",    "json",   "value",   "rows",   "text",
                                        "argv",    "env",    "params",  NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(key, names[i]))
            return 1;
    return 0;
}

static int reserved_key(const char *key)
{
    return !strcmp(key, "seq") || !strcmp(key, "ts") || !strcmp(key, "type") ||
           !strcmp(key, "crc");
}

static int add_field(rb_journal *j, json_t *rec, const char *key, json_t *v)
{
    if (reserved_key(key)) {
        errno = EINVAL;
        return -1;
    }
    int masking = j->masker && free_text_field(key) && rb_masker_max_len(j->masker) > 0;
    json_t *copy = masking ? masked_copy(v, j->masker, 1) : json_incref(v);
    if (!copy || json_object_set_new(rec, key, copy) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* seq, ts and type first, then the caller's fields, the free-text ones masked. NULL with
 * errno. */
static json_t *build_record(rb_journal *j, const char *type, json_t *fields)
{
    char ts[JOURNAL_TS_SIZE];
    const char *key;
    json_t *v;
    journal_format_ts(ts);
    json_t *rec = json_pack("{s:I,s:s,s:o}", "seq", (json_int_t)(j->last_seq + 1), "ts", ts,
                            "type", rb_json_string_lossy(type, strlen(type)));
    if (!rec) {
        errno = ENOMEM;
        return NULL;
    }
    json_object_foreach (fields, key, v)
        if (add_field(j, rec, key, v) < 0) {
            json_decref(rec);
            return NULL;
        }
    return rec;
}

/* After a failed write the file may end in part of a record, and after a failed fdatasync the
 * kernel may have dropped the pages: cut back to the last whole record and stop. */
static int fail_append(rb_journal *j)
{
    int saved = errno;
    j->broken = 1;
    if (ftruncate(j->fd, j->size) == 0)
        fdatasync(j->fd);
    errno = saved;
    return -1;
}

static int write_record(rb_journal *j, const char *line, size_t len, int sync)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = write(j->fd, line + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return fail_append(j);
        }
        done += (size_t)n;
    }
    if (sync && fdatasync(j->fd) < 0)
        return fail_append(j);
    j->pending = !sync;
    j->size += (off_t)len;
    j->last_seq++;
    return 0;
}

static int append_locked(rb_journal *j, const char *type, json_t *fields, int sync)
{
    if (j->broken) {
        errno = EIO;
        return -1;
    }
    json_t *rec = build_record(j, type, fields);
    if (!rec)
        return -1;
    size_t len = 0;
    char *line = journal_record_line(rec, &len);
    json_decref(rec);
    int rc = -1;
    if (!line)
        errno = ENOMEM;
    else if (len > RB_JOURNAL_LINE_MAX)
        errno = E2BIG;
    else
        rc = write_record(j, line, len, sync);
    free(line);
    return rc;
}

static int append(rb_journal *j, const char *type, const json_t *fields, int sync)
{
    if (!type || (fields && !json_is_object(fields))) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    int rc = append_locked(j, type, (json_t *)fields, sync);
    int saved = errno;
    pthread_mutex_unlock(&j->mu);
    errno = saved;
    return rc;
}

int rb_journal_append(rb_journal *j, const char *type, const json_t *fields)
{
    return append(j, type, fields, 1);
}

int rb_journal_append_nosync(rb_journal *j, const char *type, const json_t *fields)
{
    return append(j, type, fields, 0);
}

int rb_journal_sync(rb_journal *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    if (j->broken) {
        errno = EIO;
        rc = -1;
    } else if (j->pending && fdatasync(j->fd) < 0) {
        j->broken = 1; /* written records may be lost: the run must stop */
        rc = -1;
    } else {
        j->pending = 0;
    }
    int saved = errno;
    pthread_mutex_unlock(&j->mu);
    errno = saved;
    return rc;
}
