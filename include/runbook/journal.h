/* The run journal: one append-only JSON Lines file per run, each record checksummed. */
#ifndef RUNBOOK_JOURNAL_H
#define RUNBOOK_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runbook/jsonstr.h"
#include "runbook/lock.h"
#include "runbook/mask.h"

/* Layout under a state directory (directories are created 0700, files 0600):
 *   <state>/runs/<run-id>.jsonl   the journal
 *   <state>/runs/<run-id>.d/      side files: what a rollback needs that is not journaled
 *   <state>/locks/<name>.lock     run locks (lock.h)
 *
 * A record is one line, at most RB_JOURNAL_LINE_MAX bytes with its newline:
 *   {"seq":1,"ts":"2026-11-21T23:45:12.345Z","type":"run_start",<fields>,"crc":"1a2b3c4d"}
 * seq counts from 1 without gaps; ts is the wall clock, UTC, to the millisecond; type is any
 * string (run_start, step_start, attempt_start, process, attempt_end, capture, confirm, step_end,
 * rollback_start, rollback_end, run_end, note); crc is the CRC-32C, in lower-case hex, of the
 * line's bytes with `,"crc":"xxxxxxxx"` taken out (that is, of the record serialized without it).
 * Each record is on disk before its append returns, so a crash loses at most the record being
 * written, which a reader then reports as a torn tail.
 *
 * rb_journal_list relies on two conventions: run_start carries "runbook" (the name) and "lock"
 * (the lock name the run holds); run_end carries "status" (how the run ended, a string). */

#define RB_JOURNAL_LINE_MAX (1u << 20)
#define RB_JOURNAL_RECORDS_MAX 1000000u
/* rb_journal_list summarizes at most this many runs, the newest. */
#define RB_JOURNAL_LIST_MAX 10000u

typedef struct rb_journal rb_journal;
typedef struct rb_journal_read_info rb_journal_read_info; /* below, with the reader */

/* Run ids sort by start time: "20261121T234512Z-<runbook>-<4 random hex>" (the name cut to 48
 * bytes). Writes one into buf (at least RB_RUN_ID_MAX bytes). Returns 0, or -1 with errno EINVAL
 * when `runbook` is not [a-z0-9][a-z0-9_-]*. Uniqueness is ensured by rb_journal_create, which
 * creates the file exclusively and draws again on a clash. */
int rb_run_id_new(const char *runbook, char *buf, size_t size);

/* 1 if `id` has the shape of a run id (letters, digits, '-', '_', shorter than RB_RUN_ID_MAX),
 * so it is safe to put into a path. */
int rb_run_id_valid(const char *id);

/* Returns "<state>/runs/<run_id>.jsonl" (caller frees), or NULL with errno (EINVAL for a bad
 * run id, ENOMEM). */
char *rb_journal_path_of(const char *state_dir, const char *run_id);

/* Starts the journal of a new run of `runbook`: creates <state>/runs (0700) as needed and a
 * new, empty journal (0600, O_EXCL; the directory synced so the file survives a crash).
 * Returns 0 and a handle in *out, or -1 with errno. Nothing is written until the first append. */
int rb_journal_create(const char *state_dir, const char *runbook, rb_journal **out);

/* Opens the journal of an earlier run to go on appending (resume). The journal is read and
 * verified first; a torn last record is cut off the file (and reported in *info). When
 * `records` is not NULL it receives a new array of the good records, as rb_journal_load gives
 * them. Returns 0, or -1 with errno: EBADMSG when the journal is corrupt (details in *info,
 * which may be NULL), EINVAL for a bad run id, or the error of the failed call. The caller
 * holds the run's lock, so nothing else appends meanwhile. */
int rb_journal_reopen(const char *state_dir, const char *run_id, rb_journal **out,
                      json_t **records, rb_journal_read_info *info);

/* Syncs records still pending (best effort: rb_journal_sync says whether it worked), closes
 * and frees. NULL is a no-op. */
void rb_journal_close(rb_journal *j);

/* The run id and the journal's path, owned by the journal. */
const char *rb_journal_run_id(const rb_journal *j);
const char *rb_journal_path(const rb_journal *j);

/* Masks the free-text fields of every later record with `m` (borrowed; it must outlive the
 * journal; secrets added to it later apply to later records): message, reason, outputs,
 * stdout, stderr, body, json, value, rows, text, argv, env, params; every string and number
 * inside them, and their keys below the first level. Every other field (step keys, outcomes,
 * counters, hashes, inputs) is structure and is written as given. */
void rb_journal_set_masker(rb_journal *j, const rb_masker *m);

/* Appends one record of type `type` with the members of `fields` (an object, or NULL; the
 * caller keeps its reference). The record is written with one write() and fdatasync()ed before
 * this returns. Threads may append to one journal at once; records get consecutive seqs.
 * Returns 0, or -1 with errno:
 *  - EINVAL: `fields` is not an object or uses a reserved key (seq, ts, type, crc);
 *  - E2BIG: the line would pass RB_JOURNAL_LINE_MAX (nothing written; shorten the strings with
 *    rb_json_string_bounded and try again);
 *  - an I/O error: the record may not be on disk. The journal then refuses every later append
 *    (EIO), after cutting off what it may have written, and the run must stop. */
int rb_journal_append(rb_journal *j, const char *type, const json_t *fields);

/* Like rb_journal_append, but returns once the record is written, before it is durable: the
 * caller promises rb_journal_sync before anything acts on the world (the executor syncs right
 * before each action starts, which keeps "a record is on disk before the next action starts"
 * with one fdatasync per step instead of one per record). A process crash loses nothing that
 * was written; a power loss may lose the records since the last sync, all of which describe
 * the end of an action, so a resume sees that action as in doubt. */
int rb_journal_append_nosync(rb_journal *j, const char *type, const json_t *fields);

/* Makes every record written so far durable (fdatasync if any is pending). 0, or -1 with errno:
 * the journal then refuses every later append, as after a failed append. */
int rb_journal_sync(rb_journal *j);

/* The seq of the last record written (0 before the first). */
uint64_t rb_journal_last_seq(const rb_journal *j);

/* Returns "<state>/runs/<run-id>.d/<step_id>.<suffix>" (caller frees), creating the .d
 * directory (0700) if needed. step_id is [A-Za-z0-9][A-Za-z0-9_-]*, suffix
 * [A-Za-z0-9][A-Za-z0-9_.-]*, without "..", each under 128 bytes. NULL with errno (EINVAL). */
char *rb_journal_side_path(rb_journal *j, const char *step_id, const char *suffix);

/* Writes a side file as a whole, mode 0600, through a temporary file, fsync and rename, then
 * syncs the directory: after a crash it holds the old content or the new, never a mix.
 * Returns 0 or -1 with errno. */
int rb_journal_side_write(rb_journal *j, const char *step_id, const char *suffix,
                          const void *data, size_t len);
/* Reads a side file whole, if it is a regular file of at most `max` bytes (never through a
 * symlink): 0 with a malloc'd, NUL-terminated *data, 1 when there is none, -1 otherwise. */
int rb_journal_side_read(rb_journal *j, const char *step_id, const char *suffix, size_t max, char **data,
                         size_t *len);

/* ---- reading ---- */

typedef enum rb_journal_status {
    RB_JOURNAL_OK = 0,       /* every record read (a torn last record may have been ignored) */
    RB_JOURNAL_STOPPED = 1,  /* the callback asked to stop */
    RB_JOURNAL_EIO = -1,     /* could not open or read the file; errno says why */
    RB_JOURNAL_ECORRUPT = -2, /* a bad record with more after it, or a seq out of order: the
                                 journal cannot be trusted */
    RB_JOURNAL_ELIMIT = -3,  /* more than RB_JOURNAL_RECORDS_MAX records */
} rb_journal_status;

struct rb_journal_read_info {
    uint64_t records;   /* good records read (and passed to the callback) */
    int torn_tail;      /* 1: the last line was incomplete or bad and was ignored */
    off_t good_size;    /* bytes up to the end of the last good record */
    uint64_t line;      /* the line the error (or the torn tail) is on, 1-based; 0 if none */
    char message[160];  /* what was wrong with it, "" if nothing */
};

/* Called with each good record in order: the parsed object without its crc member, borrowed
 * for the call (json_incref it to keep it). Return 0 to go on, anything else to stop. */
typedef int (*rb_journal_cb)(json_t *record, void *ud);

/* Reads and verifies the journal at `path`: each line's crc, its JSON (an object, no duplicate
 * keys, with seq, ts, type), and seqs 1, 2, 3... A last line that is incomplete, too long, or
 * fails a check is a torn tail: it is reported in info->torn_tail and never passed on. The same
 * fault anywhere before the last line is RB_JOURNAL_ECORRUPT; so is, even at the end, a
 * well-formed record with the wrong seq, or a line that starts with a whole record (two records
 * joined by a lost newline, which a torn write cannot produce). On an error, records already
 * passed to `cb` came from a journal that cannot be trusted: discard them. `info` may be NULL;
 * RB_JOURNAL_EIO leaves errno set. */
rb_journal_status rb_journal_read(const char *path, rb_journal_cb cb, void *ud,
                                  rb_journal_read_info *info);

/* Like rb_journal_read, but collects the records into a new array in *records (caller
 * decrefs), set only when the result is RB_JOURNAL_OK. */
rb_journal_status rb_journal_load(const char *path, json_t **records, rb_journal_read_info *info);

/* ---- listing ---- */

typedef struct rb_run_summary {
    char run_id[RB_RUN_ID_MAX];
    char runbook[RB_RUN_ID_MAX]; /* run_start's "runbook", "" if unknown */
    char started[32];            /* run_start's ts, "" if unknown */
    char status[32];             /* run_end's "status"; else "running" when the run holds its
                                    lock now, "interrupted" when not; "corrupt" or "unreadable"
                                    when the journal could not be read */
    int64_t duration_ms;         /* start to run_end, or to the last record while running or
                                    interrupted; -1 if unknown */
    int torn_tail;
    int dry_run;                 /* run_start says it was a dry run: nothing was written */
} rb_run_summary;

/* Summarizes the runs journaled in <state>/runs, oldest first (by run id, and within one second
 * by run_start's time; at most RB_JOURNAL_LIST_MAX, the newest). Returns 0 with a new array in *runs (caller frees; NULL when *count is 0), or -1 with
 * errno. A missing runs directory is no runs. */
int rb_journal_list(const char *state_dir, rb_run_summary **runs, size_t *count);

/* ---- strings from outside ---- */

/* rb_json_string_lossy, rb_json_string_bounded, rb_json_truncate_field: runbook/jsonstr.h. */

#endif
