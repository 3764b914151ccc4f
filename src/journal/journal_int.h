/* What the journal's files share: line format, timestamps, names, directories. Private. */
#ifndef RUNBOOK_JOURNAL_INT_H
#define RUNBOOK_JOURNAL_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runbook/journal.h"

struct rb_journal {
    int fd; /* O_APPEND */
    char *path;
    char *runs_dir;
    char run_id[RB_RUN_ID_MAX];
    uint64_t last_seq;
    off_t size;  /* bytes of whole records: what a failed append is cut back to */
    int broken;  /* an append failed: the file's end is in doubt, so no more appends */
    int pending; /* records written by rb_journal_append_nosync and not yet synced */
    const rb_masker *masker;
    pthread_mutex_t mu;
};

/* Characters of names that become parts of paths. */
#define JOURNAL_ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* ,"crc":"xxxxxxxx"} closes every line. */
#define JOURNAL_CRC_SUFFIX_LEN 18
#define JOURNAL_TS_SIZE 32

/* CRC-32C (Castagnoli), chainable: crc32c(crc32c(0, a), b) is the CRC of a then b. */
uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len);

/* The wall clock as "2026-11-21T23:45:12.345Z" into buf (JOURNAL_TS_SIZE bytes). */
void journal_format_ts(char *buf);
/* Parses what journal_format_ts writes into milliseconds since the epoch; -1 if malformed. */
int journal_parse_ts(const char *ts, int64_t *ms);

/* Serializes `rec` as one journal line with its crc and newline (caller frees), or NULL when out
 * of memory. */
char *journal_record_line(const json_t *rec, size_t *len);

/* Verifies one line (without its newline): the crc, then the JSON. Returns 0 and the record
 * without its crc member in *out, or -1 with the reason in msg. */
int journal_record_parse(const char *line, size_t len, json_t **out, char *msg, size_t msg_size);

/* 1 if a proper prefix of the line is a whole record with a good checksum: two records run
 * together by a lost newline, which a torn write cannot produce. */
int journal_line_has_record_prefix(const char *line, size_t len);

/* 1 if s is non-empty, shorter than max, its first byte in `first` and the rest in `rest`. */
int journal_name_ok(const char *s, const char *first, const char *rest, size_t max);

/* mkdir -p: creates what is missing with mode 0700 and syncs each parent it adds to; then
 * refuses (EPERM) the folder unless it is a folder, not a symlink, of the effective user that
 * neither group nor others may write. */
int journal_make_dirs(const char *path);

/* fsyncs a directory, so entries just created or renamed in it survive a crash. */
int journal_sync_dir(const char *path);

/* A new string from printf-style arguments (caller frees), or NULL with errno. */
char *journal_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
