/* Reading a journal back: every line verified; a torn last record told apart from damage. */
#include "journal/journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK 65536

typedef enum { LINE_EOF, LINE_ERROR, LINE_FULL, LINE_PARTIAL, LINE_LONG } line_kind;

typedef struct line_reader {
    int fd;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    off_t base;             /* file offset of buf[0] */
    int eof;
} line_reader;

static int fill(line_reader *r)
{
    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->base += (off_t)r->start;
        r->end -= r->start;
        r->start = 0;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        r->eof = n == 0;
        r->end += (size_t)n;
        return 0;
    }
}

/* Drops the rest of an over-long line, through its newline or to the end of the file. */
static line_kind skip_line(line_reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            r->start = (size_t)(nl + 1 - r->buf);
            return LINE_LONG;
        }
        r->start = r->end;
        if (r->eof)
            return LINE_LONG;
        if (fill(r) < 0)
            return LINE_ERROR;
    }
}

/* The next line without its newline. LINE_PARTIAL: the file ends without one; LINE_LONG: the
 * line would pass RB_JOURNAL_LINE_MAX and was skipped. */
static line_kind next_line(line_reader *r, const char **line, size_t *len)
{
    for (;;) {
        size_t avail = r->end - r->start;
        char *nl = memchr(r->buf + r->start, '\n', avail);
        if (nl && (size_t)(nl - (r->buf + r->start)) < RB_JOURNAL_LINE_MAX) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start += *len + 1;
            return LINE_FULL;
        }
        if (nl || avail >= RB_JOURNAL_LINE_MAX)
            return skip_line(r);
        if (r->eof) {
            *line = r->buf + r->start;
            *len = avail;
            r->start = r->end;
            return avail ? LINE_PARTIAL : LINE_EOF;
        }
        if (fill(r) < 0)
            return LINE_ERROR;
    }
}

static void set_message(rb_journal_read_info *info, uint64_t line, const char *msg)
{
    info->line = line;
    snprintf(info->message, sizeof info->message, "%.*s", (int)sizeof info->message - 1, msg);
}

/* take_record's answer for a line that fails its checks: a torn tail if nothing follows. */
#define LINE_BAD (RB_JOURNAL_STOPPED + 1)

/* Checks one complete line and hands it on. Returns OK (good record), STOPPED, ECORRUPT,
 * ELIMIT or LINE_BAD, with the reason for the last three in msg. */
static int take_record(const char *line, size_t len, rb_journal_cb cb, void *ud,
                       rb_journal_read_info *info, char *msg, size_t msg_size)
{
    json_t *rec;
    if (journal_record_parse(line, len, &rec, msg, msg_size) < 0)
        return LINE_BAD;
    json_int_t seq = json_integer_value(json_object_get(rec, "seq"));
    int rc = RB_JOURNAL_OK;
    if ((uint64_t)seq != info->records + 1) {
        snprintf(msg, msg_size, "record has seq %lld where %llu was expected", (long long)seq,
                 (unsigned long long)info->records + 1);
        rc = RB_JOURNAL_ECORRUPT;
    } else if (info->records >= RB_JOURNAL_RECORDS_MAX) {
        snprintf(msg, msg_size, "more than %u records", RB_JOURNAL_RECORDS_MAX);
        rc = RB_JOURNAL_ELIMIT;
    } else {
        info->records++;
        if (cb && cb(rec, ud))
            rc = RB_JOURNAL_STOPPED;
    }
    json_decref(rec);
    return rc;
}

/* Classifies one line: a good record (passed on: OK or STOPPED), LINE_BAD (a torn tail if
 * nothing follows it), or a status that ends the read. The reason goes to msg. */
static int check_line(line_kind k, const char *line, size_t len, rb_journal_cb cb, void *ud,
                      rb_journal_read_info *info, char *msg, size_t msg_size)
{
    int rc = LINE_BAD;
    if (k == LINE_FULL)
        rc = take_record(line, len, cb, ud, info, msg, msg_size);
    else
        snprintf(msg, msg_size, "%s",
                 k == LINE_PARTIAL ? "incomplete record (no newline)" : "record too long");
    if (rc == LINE_BAD && k != LINE_LONG && journal_line_has_record_prefix(line, len)) {
        snprintf(msg, msg_size, "a whole record with more after it on the same line");
        return RB_JOURNAL_ECORRUPT;
    }
    return rc;
}

static rb_journal_status read_lines(line_reader *r, rb_journal_cb cb, void *ud,
                                    rb_journal_read_info *info)
{
    char msg[sizeof info->message] = "";
    uint64_t lineno = 0, bad_line = 0;
    const char *line;
    size_t len;
    for (line_kind k; (k = next_line(r, &line, &len)) != LINE_EOF;) {
        if (k == LINE_ERROR)
            return RB_JOURNAL_EIO;
        lineno++;
        if (bad_line) {
            char what[sizeof msg + 40];
            snprintf(what, sizeof what, "%.*s, and records follow it", (int)sizeof msg - 1, msg);
            set_message(info, bad_line, what);
            return RB_JOURNAL_ECORRUPT;
        }
        int rc = check_line(k, line, len, cb, ud, info, msg, sizeof msg);
        if (rc == LINE_BAD) {
            bad_line = lineno;
            continue;
        }
        if (rc == RB_JOURNAL_OK || rc == RB_JOURNAL_STOPPED)
            info->good_size = r->base + (off_t)r->start;
        else
            set_message(info, lineno, msg);
        if (rc != RB_JOURNAL_OK)
            return (rb_journal_status)rc;
    }
    if (bad_line) {
        info->torn_tail = 1;
        set_message(info, bad_line, msg);
    }
    return RB_JOURNAL_OK;
}

rb_journal_status rb_journal_read(const char *path, rb_journal_cb cb, void *ud,
                                  rb_journal_read_info *info)
{
    rb_journal_read_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    line_reader r = {.cap = RB_JOURNAL_LINE_MAX + READ_CHUNK};
    r.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (r.fd < 0)
        return RB_JOURNAL_EIO;
    r.buf = malloc(r.cap);
    rb_journal_status st = r.buf ? read_lines(&r, cb, ud, info) : RB_JOURNAL_EIO;
    int saved = r.buf ? errno : ENOMEM;
    if (st == RB_JOURNAL_EIO && !info->message[0])
        snprintf(info->message, sizeof info->message, "%s", strerror(saved));
    free(r.buf);
    close(r.fd);
    errno = saved;
    return st;
}

static int collect(json_t *record, void *ud)
{
    return json_array_append(ud, record) < 0;
}

rb_journal_status rb_journal_load(const char *path, json_t **records, rb_journal_read_info *info)
{
    json_t *all = json_array();
    if (!all) {
        errno = ENOMEM;
        return RB_JOURNAL_EIO;
    }
    rb_journal_status st = rb_journal_read(path, collect, all, info);
    if (st == RB_JOURNAL_STOPPED) { /* only when appending ran out of memory */
        errno = ENOMEM;
        st = RB_JOURNAL_EIO;
    }
    if (st == RB_JOURNAL_OK)
        *records = all;
    else
        json_decref(all);
    return st;
}
