/* The journal: round trips, durability, privacy; torn tails ignored, damage refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal/journal_int.h"
#include "runbook/journal.h"
#include "runbook/lock.h"
#include "runbook/mask.h"

typedef struct fixture {
    char root[64];  /* a fresh temporary directory */
    char state[96]; /* <root>/state/nested: does not exist yet */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/rb-journal-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->state, sizeof f->state, "%s/state/nested", f->root);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void append(rb_journal *j, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *fields = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    assert_non_null(fields);
    assert_int_equal(rb_journal_append(j, type, fields), 0);
    json_decref(fields);
}

/* A journal of three records, the last with a long, non-ASCII value. */
static rb_journal *three_records(const fixture *f)
{
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "failover", &j), 0);
    append(j, "run_start", "{s:s,s:s}", "runbook", "failover", "lock", "failover");
    append(j, "step_start", "{s:s}", "step", "promote");
    append(j, "step_end", "{s:s,s:s}", "step", "promote", "stdout",
           "promoted \xe2\x9c\x93 with \"quotes\" and \\ and a\ttab");
    return j;
}

static void crc32c_known_value(void **state)
{
    assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(journal_crc32c(journal_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void run_ids_sort_by_time_and_name_the_runbook(void **state)
{
    char id[RB_RUN_ID_MAX];
    assert_int_equal(rb_run_id_new("failover-to-secondary", id, sizeof id), 0);
    assert_int_equal(strlen(id), 16 + 1 + strlen("failover-to-secondary") + 1 + 4);
    assert_int_equal(id[8], 'T');
    assert_memory_equal(id + 15, "Z-failover-to-secondary-", 24);
    assert_true(rb_run_id_valid(id));
    errno = 0;
    assert_int_equal(rb_run_id_new("../etc", id, sizeof id), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(rb_run_id_new("", id, sizeof id), -1);
    assert_false(rb_run_id_valid("a/b"));
    assert_false(rb_run_id_valid(".."));
    assert_null(rb_journal_path_of("/tmp", "../x"));
}

static int no_crc_and_in_order(json_t *rec, void *ud)
{
    json_t *all = ud;
    assert_null(json_object_get(rec, "crc"));
    assert_int_equal(json_integer_value(json_object_get(rec, "seq")), json_array_size(all) + 1);
    json_array_append(all, rec);
    return 0;
}

static void records_round_trip(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    json_t *nested = json_pack("{s:{s:[i,f,b,n]},s:I}", "result", "rows", 1, 2.5, 1, "big",
                               (json_int_t)1 << 60);
    assert_int_equal(rb_journal_append(j, "attempt_end", nested), 0);
    assert_int_equal(rb_journal_last_seq(j), 4);
    json_t *all = json_array();
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(rb_journal_path(j), no_crc_and_in_order, all, &info),
                     RB_JOURNAL_OK);
    assert_int_equal(info.records, 4);
    assert_false(info.torn_tail);
    json_t *last = json_array_get(all, 3);
    assert_string_equal(json_string_value(json_object_get(last, "type")), "attempt_end");
    assert_true(json_equal(json_object_get(last, "result"), json_object_get(nested, "result")));
    const char *ts = json_string_value(json_object_get(last, "ts"));
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    json_t *third = json_array_get(all, 2);
    assert_string_equal(json_string_value(json_object_get(third, "stdout")),
                        "promoted \xe2\x9c\x93 with \"quotes\" and \\ and a\ttab");
    json_decref(all);
    json_decref(nested);
    rb_journal_close(j);
}

/* No reader of this process's buffers: a separate descriptor sees each record at once. */
static void each_record_is_in_the_file_when_append_returns(void **state)
{
    fixture *f = *state;
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "drill", &j), 0);
    for (int i = 1; i <= 5; i++) {
        append(j, "note", "{s:i}", "i", i);
        int fd = open(rb_journal_path(j), O_RDONLY);
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        int lines = 0;
        for (char *p = buf; (p = strchr(p, '\n')); p++)
            lines++;
        assert_int_equal(lines, i);
        char want[32];
        snprintf(want, sizeof want, "\"i\":%d,\"crc\":", i);
        assert_non_null(strstr(buf, want));
    }
    rb_journal_close(j);
}

static void assert_mode(const char *path, mode_t mode)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, mode);
}

static void files_and_directories_are_private(void **state)
{
    fixture *f = *state;
    mode_t old = umask(0);
    rb_journal *j = three_records(f);
    umask(old);
    char dir[256];
    assert_mode(rb_journal_path(j), 0600);
    snprintf(dir, sizeof dir, "%s/runs", f->state);
    assert_mode(dir, 0700);
    assert_mode(f->state, 0700);
    snprintf(dir, sizeof dir, "%s/state", f->root);
    assert_mode(dir, 0700);
    rb_journal_close(j);
}

typedef struct collected {
    size_t count;
    char last_type[32];
} collected;

static int count_records(json_t *rec, void *ud)
{
    collected *c = ud;
    c->count++;
    snprintf(c->last_type, sizeof c->last_type, "%s",
             json_string_value(json_object_get(rec, "type")));
    return 0;
}

/* Cut the journal at every byte of its last record: the first two always come back, the
 * partial third never does, and the cut is reported unless it fell exactly between records. */
static void torn_last_record_at_every_offset(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    size_t len;
    char *data = slurp(rb_journal_path(j), &len);
    size_t last_start = (size_t)(strrchr(data, '\n') - data);
    while (last_start && data[last_start - 1] != '\n')
        last_start--;
    char cut[128];
    snprintf(cut, sizeof cut, "%s/cut.jsonl", f->root);
    for (size_t k = last_start; k < len; k++) {
        spit(cut, data, k);
        collected c = {0};
        rb_journal_read_info info;
        assert_int_equal(rb_journal_read(cut, count_records, &c, &info), RB_JOURNAL_OK);
        assert_int_equal(c.count, 2);
        assert_string_equal(c.last_type, "step_start");
        assert_int_equal(info.records, 2);
        assert_int_equal(info.torn_tail, k > last_start);
        assert_int_equal(info.good_size, (off_t)last_start);
        if (k > last_start)
            assert_int_equal(info.line, 3);
    }
    spit(cut, data, len);
    collected c = {0};
    assert_int_equal(rb_journal_read(cut, count_records, &c, NULL), RB_JOURNAL_OK);
    assert_int_equal(c.count, 3);
    free(data);
    rb_journal_close(j);
}

/* Every change to the middle record, even one that only joins it to the next line, makes the
 * whole journal untrusted; the same change to the last record is a torn tail. */
static void damaged_middle_record_is_an_error(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    size_t len;
    char *data = slurp(rb_journal_path(j), &len);
    size_t mid_start = (size_t)(strchr(data, '\n') - data) + 1;
    size_t mid_end = (size_t)(strchr(data + mid_start, '\n') - data) + 1;
    char path[128];
    snprintf(path, sizeof path, "%s/flip.jsonl", f->root);
    const unsigned char flips[] = {0x01, 0x20, 0x80};
    for (size_t k = mid_start; k < mid_end; k++)
        for (size_t x = 0; x < sizeof flips; x++) {
            data[k] ^= flips[x];
            spit(path, data, len);
            data[k] ^= flips[x];
            rb_journal_read_info info;
            rb_journal_status st = rb_journal_read(path, NULL, NULL, &info);
            if (st != RB_JOURNAL_ECORRUPT)
                fail_msg("flip %02x at byte %zu: status %d", flips[x], k, st);
            assert_int_equal(info.line, 2);
            assert_true(info.message[0] != '\0');
        }
    data[len - 10] ^= 0x01;
    spit(path, data, len);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 2);
    assert_true(info.torn_tail);
    free(data);
    rb_journal_close(j);
}

static void seq_gap_or_repeat_is_an_error(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    size_t len;
    char *data = slurp(rb_journal_path(j), &len);
    char *l2 = strchr(data, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    char path[128], buf[4096];
    snprintf(path, sizeof path, "%s/gap.jsonl", f->root);
    /* 1, 3: the middle record is missing. */
    size_t n1 = (size_t)(l2 - data), n3 = len - (size_t)(l3 - data);
    memcpy(buf, data, n1);
    memcpy(buf + n1, l3, n3);
    spit(path, buf, n1 + n3);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_ECORRUPT);
    assert_int_equal(info.line, 2);
    assert_non_null(strstr(info.message, "seq 3"));
    /* 1, 2, 2, 3: a record twice. */
    size_t n2 = (size_t)(l3 - l2);
    memcpy(buf, data, n1 + n2);
    memcpy(buf + n1 + n2, l2, n2);
    memcpy(buf + n1 + 2 * n2, l3, n3);
    spit(path, buf, len + n2);
    assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_ECORRUPT);
    assert_int_equal(info.line, 3);
    free(data);
    rb_journal_close(j);
}

static void over_long_lines(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    size_t len;
    char *data = slurp(rb_journal_path(j), &len);
    size_t big = RB_JOURNAL_LINE_MAX + 10;
    char *buf = malloc(len + big + 1);
    char path[128];
    snprintf(path, sizeof path, "%s/long.jsonl", f->root);
    size_t n1 = (size_t)(strchr(data, '\n') - data) + 1;
    /* In the middle: an error. */
    memcpy(buf, data, n1);
    memset(buf + n1, 'x', big);
    buf[n1 + big - 1] = '\n';
    memcpy(buf + n1 + big, data + n1, len - n1);
    spit(path, buf, len + big);
    assert_int_equal(rb_journal_read(path, NULL, NULL, NULL), RB_JOURNAL_ECORRUPT);
    /* At the end, with or without its newline: a torn tail. */
    memcpy(buf, data, len);
    memset(buf + len, 'x', big);
    for (int nl = 0; nl < 2; nl++) {
        buf[len + big - 1] = nl ? '\n' : 'x';
        spit(path, buf, len + big);
        rb_journal_read_info info;
        assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_OK);
        assert_int_equal(info.records, 3);
        assert_true(info.torn_tail);
    }
    free(buf);
    free(data);
    rb_journal_close(j);
}

static void invalid_utf8_round_trips_as_replacement_characters(void **state)
{
    fixture *f = *state;
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "drill", &j), 0);
    const char raw[] = "a\xff" "b\xed\xa0\x80" "c\xc0\xaf" "d\0e\xf0\x9f\x98";
    json_t *fields = json_pack("{s:o}", "stdout", rb_json_string_lossy(raw, sizeof raw - 1));
    assert_non_null(fields);
    assert_int_equal(rb_journal_append(j, "attempt_end", fields), 0);
    json_t *recs;
    assert_int_equal(rb_journal_load(rb_journal_path(j), &recs, NULL), RB_JOURNAL_OK);
    json_t *out = json_object_get(json_array_get(recs, 0), "stdout");
    const char want[] = "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                        "c\xef\xbf\xbd\xef\xbf\xbd" "d\0e\xef\xbf\xbd";
    assert_int_equal(json_string_length(out), sizeof want - 1);
    assert_memory_equal(json_string_value(out), want, sizeof want - 1);
    json_decref(recs);
    json_decref(fields);
    rb_journal_close(j);
}

static void long_strings_are_cut_with_a_marker(void **state)
{
    char text[1000];
    for (size_t i = 0; i < sizeof text; i += 2)
        memcpy(text + i, "\xc3\xa9", 2); /* é: the cut must not split one */
    json_t *s = rb_json_string_bounded(text, sizeof text, 101);
    assert_non_null(s);
    assert_true(json_string_length(s) <= 101);
    assert_non_null(strstr(json_string_value(s), "...[truncated, 1000 bytes]"));
    json_decref(s);
    json_t *obj = json_pack("{s:s%,s:s}", "stdout", text, sizeof text, "other", "short");
    assert_int_equal(rb_json_truncate_field(obj, "stdout", 200), 0);
    assert_int_equal(rb_json_truncate_field(obj, "other", 200), 0);
    assert_int_equal(rb_json_truncate_field(obj, "missing", 200), 0);
    assert_true(json_string_length(json_object_get(obj, "stdout")) <= 200);
    assert_string_equal(json_string_value(json_object_get(obj, "other")), "short");
    json_decref(obj);
}

static void bad_appends_are_refused_and_write_nothing(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    json_t *bad = json_pack("{s:i}", "seq", 7);
    errno = 0;
    assert_int_equal(rb_journal_append(j, "note", bad), -1);
    assert_int_equal(errno, EINVAL);
    json_decref(bad);
    char *huge = malloc(RB_JOURNAL_LINE_MAX);
    memset(huge, 'y', RB_JOURNAL_LINE_MAX);
    json_t *big = json_pack("{s:s%}", "stdout", huge, (size_t)RB_JOURNAL_LINE_MAX);
    assert_int_equal(rb_journal_append(j, "attempt_end", big), -1);
    assert_int_equal(errno, E2BIG);
    assert_int_equal(rb_json_truncate_field(big, "stdout", 4096), 0);
    assert_int_equal(rb_journal_append(j, "attempt_end", big), 0);
    json_decref(big);
    free(huge);
    assert_int_equal(rb_journal_append(j, "note", NULL), 0);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(rb_journal_path(j), NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 5);
    rb_journal_close(j);
}

static void secrets_never_reach_the_file(void **state)
{
    fixture *f = *state;
    rb_masker *m = rb_masker_new();
    assert_int_equal(rb_masker_add(m, "hunter2-s3cret", 14), 0);
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "drill", &j), 0);
    rb_journal_set_masker(j, m);
    append(j, "attempt_end", "{s:s,s:[s,{s:s}]}", "stdout", "password=hunter2-s3cret\n", "argv",
           "psql", "env", "PGPASSWORD=hunter2-s3cret");
    size_t len;
    char *data = slurp(rb_journal_path(j), &len);
    assert_null(strstr(data, "hunter2"));
    assert_non_null(strstr(data, "\"stdout\":\"password=***\\n\""));
    assert_non_null(strstr(data, "PGPASSWORD=***"));
    free(data);
    rb_journal_close(j);
    rb_masker_free(m);
}

/* A resumed run cuts the torn record off and goes on with the next seq. */
static void reopen_cuts_a_torn_tail_and_continues(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    char id[RB_RUN_ID_MAX], path[256];
    snprintf(id, sizeof id, "%s", rb_journal_run_id(j));
    snprintf(path, sizeof path, "%s", rb_journal_path(j));
    rb_journal_close(j);
    size_t len;
    char *data = slurp(path, &len);
    spit(path, data, len - 7);
    json_t *recs = NULL;
    rb_journal_read_info info;
    assert_int_equal(rb_journal_reopen(f->state, id, &j, &recs, &info), 0);
    assert_true(info.torn_tail);
    assert_int_equal(json_array_size(recs), 2);
    assert_int_equal(rb_journal_last_seq(j), 2);
    append(j, "note", "{s:s}", "text", "resumed");
    assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 3);
    assert_false(info.torn_tail);
    rb_journal_close(j);
    json_decref(recs);
    /* A damaged journal is not reopened. */
    data[5] ^= 1;
    spit(path, data, len);
    errno = 0;
    assert_int_equal(rb_journal_reopen(f->state, id, &j, NULL, &info), -1);
    assert_int_equal(errno, EBADMSG);
    assert_int_equal(rb_journal_reopen(f->state, "no/such", &j, NULL, NULL), -1);
    free(data);
}

static void side_files_are_private_and_replaced_whole(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    char *p = rb_journal_side_path(j, "write-env", "orig");
    assert_non_null(p);
    char want[256];
    snprintf(want, sizeof want, "%s/runs/%s.d/write-env.orig", f->state, rb_journal_run_id(j));
    assert_string_equal(p, want);
    assert_int_equal(rb_journal_side_write(j, "write-env", "orig", "A=1\n", 4), 0);
    assert_int_equal(rb_journal_side_write(j, "write-env", "orig", "SECRET=x\n", 9), 0);
    size_t len;
    char *data = slurp(p, &len);
    assert_string_equal(data, "SECRET=x\n");
    assert_mode(p, 0600);
    *strrchr(want, '/') = '\0';
    assert_mode(want, 0700);
    free(data);
    free(p);
    const char *bad[][2] = {{"../x", "orig"}, {"a", "../b"}, {".hidden", "x"}, {"a/b", "c"},
                            {"a", "b..c"}, {"", "x"}, {"a", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        assert_null(rb_journal_side_path(j, bad[i][0], bad[i][1]));
        assert_int_equal(errno, EINVAL);
        assert_int_equal(rb_journal_side_write(j, bad[i][0], bad[i][1], "x", 1), -1);
    }
    rb_journal_close(j);
}

static rb_journal *run_with(const fixture *f, const char *name, const char *lock, int end)
{
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, name, &j), 0);
    append(j, "run_start", "{s:s,s:s}", "runbook", name, "lock", lock);
    append(j, "step_end", "{s:s}", "step", "one");
    if (end)
        append(j, "run_end", "{s:s}", "status", "succeeded");
    return j;
}

static const rb_run_summary *find_run(const rb_run_summary *runs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(runs[i].runbook, name))
            return &runs[i];
    fail_msg("no run of %s", name);
    return NULL;
}

static void listing_tells_finished_running_and_interrupted_runs(void **state)
{
    fixture *f = *state;
    rb_journal *done = run_with(f, "done", "done", 1);
    rb_journal *live = run_with(f, "live", "live", 0);
    rb_journal *dead = run_with(f, "dead", "dead", 0);
    rb_journal *bad = run_with(f, "bad", "bad", 1);
    rb_lock *lock;
    assert_int_equal(rb_lock_acquire(f->state, "live", rb_journal_run_id(live), &lock, NULL), 0);
    size_t len;
    char *data = slurp(rb_journal_path(bad), &len);
    data[3] ^= 1;
    spit(rb_journal_path(bad), data, len);
    free(data);

    rb_run_summary *runs;
    size_t n;
    assert_int_equal(rb_journal_list(f->state, &runs, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++) /* by the second in the id, then by the start's milliseconds */
        assert_true(strncmp(runs[i - 1].run_id, runs[i].run_id, 16) < 0 ||
                    (!strncmp(runs[i - 1].run_id, runs[i].run_id, 16) && strcmp(runs[i - 1].started, runs[i].started) <= 0));
    const rb_run_summary *s = find_run(runs, n, "done");
    assert_string_equal(s->status, "succeeded");
    assert_string_equal(s->run_id, rb_journal_run_id(done));
    assert_true(s->duration_ms >= 0);
    assert_int_equal(strlen(s->started), 24);
    assert_string_equal(find_run(runs, n, "live")->status, "running");
    assert_string_equal(find_run(runs, n, "dead")->status, "interrupted");
    int corrupt = 0;
    for (size_t i = 0; i < n; i++)
        corrupt += !strcmp(runs[i].status, "corrupt");
    assert_int_equal(corrupt, 1);
    free(runs);

    rb_lock_release(lock);
    rb_journal_close(done);
    rb_journal_close(live);
    rb_journal_close(dead);
    rb_journal_close(bad);
    assert_int_equal(rb_journal_list(f->root, &runs, &n), 0); /* no runs directory there */
    assert_int_equal(n, 0);
    assert_null(runs);
}

/* A buffer the child can write the journal's path into for the parent. */
static char *mmap_path(void)
{
    char *p = mmap(NULL, 256, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    p[0] = '\0';
    return p;
}

/* In a child, since the file size limit is per process: an append that hits the limit fails,
 * what it wrote is cut off, and the journal refuses every later append. */
static int fail_a_write(const fixture *f, char *path)
{
    rb_journal *j;
    if (rb_journal_create(f->state, "full", &j) < 0 ||
        rb_journal_append(j, "run_start", NULL) < 0)
        return 10;
    snprintf(path, 256, "%s", rb_journal_path(j));
    struct stat st;
    stat(path, &st);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {(rlim_t)st.st_size + 40, (rlim_t)st.st_size + 40};
    if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
        return 11;
    json_t *fields = json_pack("{s:s}", "text", "a record longer than the forty bytes left");
    if (rb_journal_append(j, "note", fields) != -1 || errno != EFBIG)
        return 12;
    if (rb_journal_append(j, "note", NULL) != -1 || errno != EIO)
        return 13;
    json_decref(fields);
    rb_journal_close(j);
    return 0;
}

static void failed_write_is_cut_off_and_stops_the_journal(void **state)
{
    fixture *f = *state;
    char *path = mmap_path();
    pid_t pid = fork();
    if (pid == 0)
        _exit(fail_a_write(f, path));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(path, NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 1);
    assert_false(info.torn_tail);
    munmap(path, 256);
}

/* Records written without a sync are in the file at once and read back like the others. */
static void unsynced_records_are_written_and_synced_later(void **state)
{
    fixture *f = *state;
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "batch", &j), 0);
    assert_int_equal(rb_journal_sync(j), 0); /* nothing pending */
    json_t *fields = json_pack("{s:s}", "step", "one");
    assert_int_equal(rb_journal_append_nosync(j, "step_end", fields), 0);
    assert_int_equal(rb_journal_append_nosync(j, "note", NULL), 0);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(rb_journal_path(j), NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 2);
    assert_int_equal(rb_journal_sync(j), 0);
    assert_int_equal(rb_journal_append(j, "step_start", fields), 0);
    assert_int_equal(rb_journal_last_seq(j), 3);
    json_t *bad = json_pack("{s:i}", "crc", 1);
    assert_int_equal(rb_journal_append_nosync(j, "note", bad), -1);
    assert_int_equal(errno, EINVAL);
    json_decref(bad);
    json_decref(fields);
    rb_journal_close(j);
}

typedef struct worker {
    rb_journal *j;
    int id;
} worker;

static void *append_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        json_t *fields = json_pack("{s:i,s:i}", "worker", w->id, "i", i);
        if (rb_journal_append(w->j, "note", fields) < 0)
            abort();
        json_decref(fields);
    }
    return NULL;
}

static void parallel_appends_get_consecutive_seqs(void **state)
{
    fixture *f = *state;
    rb_journal *j;
    assert_int_equal(rb_journal_create(f->state, "parallel", &j), 0);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){j, i};
        assert_int_equal(pthread_create(&t[i], NULL, append_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(rb_journal_path(j), NULL, NULL, &info), RB_JOURNAL_OK);
    assert_int_equal(info.records, 100);
    rb_journal_close(j);
}

static int stop_at_first(json_t *rec, void *ud)
{
    ++*(int *)ud;
    return 1;
}

static void callback_can_stop_the_reader(void **state)
{
    fixture *f = *state;
    rb_journal *j = three_records(f);
    int calls = 0;
    rb_journal_read_info info;
    assert_int_equal(rb_journal_read(rb_journal_path(j), stop_at_first, &calls, &info),
                     RB_JOURNAL_STOPPED);
    assert_int_equal(calls, 1);
    assert_int_equal(info.records, 1);
    errno = 0;
    assert_int_equal(rb_journal_read("/nonexistent/x.jsonl", NULL, NULL, &info), RB_JOURNAL_EIO);
    assert_int_equal(errno, ENOENT);
    rb_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_known_value),
        cmocka_unit_test(run_ids_sort_by_time_and_name_the_runbook),
        cmocka_unit_test_setup_teardown(records_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(each_record_is_in_the_file_when_append_returns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(files_and_directories_are_private, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_last_record_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_middle_record_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(seq_gap_or_repeat_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(over_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8_round_trips_as_replacement_characters,
                                        setup, teardown),
        cmocka_unit_test(long_strings_are_cut_with_a_marker),
        cmocka_unit_test_setup_teardown(bad_appends_are_refused_and_write_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(secrets_never_reach_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_cuts_a_torn_tail_and_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(side_files_are_private_and_replaced_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listing_tells_finished_running_and_interrupted_runs,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(failed_write_is_cut_off_and_stops_the_journal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unsynced_records_are_written_and_synced_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(parallel_appends_get_consecutive_seqs, setup, teardown),
        cmocka_unit_test_setup_teardown(callback_can_stop_the_reader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
