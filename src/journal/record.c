/* The line format shared by writer and reader: compact JSON with its CRC-32C spliced in. */
#include "journal/journal_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CRC32C_POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void journal_format_ts(char *buf)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(buf, JOURNAL_TS_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, JOURNAL_TS_SIZE - n, ".%03dZ", (int)(now.tv_nsec / 1000000) % 1000);
}

int journal_parse_ts(const char *ts, int64_t *ms)
{
    struct tm tm = {0};
    int millis, end = 0;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis, &end) != 7 ||
        end != 24 || ts[end])
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + millis;
    return 0;
}

char *journal_record_line(const json_t *rec, size_t *len)
{
    char *body = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!body)
        return NULL;
    size_t n = strlen(body); /* "{...}": the closing brace is replaced below */
    uint32_t crc = journal_crc32c(0, body, n);
    char *line = realloc(body, n + JOURNAL_CRC_SUFFIX_LEN + 1);
    if (!line) {
        free(body);
        return NULL;
    }
    snprintf(line + n - 1, JOURNAL_CRC_SUFFIX_LEN + 2, ",\"crc\":\"%08x\"}\n", crc);
    *len = n - 1 + JOURNAL_CRC_SUFFIX_LEN + 1;
    return line;
}

/* Reads the crc from the line's fixed suffix; -1 if the suffix is not exactly ours. */
static int suffix_crc(const char *line, size_t len, uint32_t *crc)
{
    if (len < JOURNAL_CRC_SUFFIX_LEN + 2)
        return -1;
    const char *s = line + len - JOURNAL_CRC_SUFFIX_LEN;
    if (memcmp(s, ",\"crc\":\"", 8) != 0 || memcmp(s + 16, "\"}", 2) != 0)
        return -1;
    *crc = 0;
    for (int i = 8; i < 16; i++) {
        const char *hex = "0123456789abcdef", *d = s[i] ? strchr(hex, s[i]) : NULL;
        if (!d)
            return -1;
        *crc = *crc << 4 | (uint32_t)(d - hex);
    }
    return 0;
}

static int has_header(json_t *rec)
{
    json_t *seq = json_object_get(rec, "seq");
    return json_is_integer(seq) && json_integer_value(seq) > 0 &&
           json_is_string(json_object_get(rec, "ts")) &&
           json_is_string(json_object_get(rec, "type"));
}

int journal_record_parse(const char *line, size_t len, json_t **out, char *msg, size_t msg_size)
{
    uint32_t want;
    if (suffix_crc(line, len, &want) < 0) {
        snprintf(msg, msg_size, "the record does not end with its checksum");
        return -1;
    }
    size_t body = len - JOURNAL_CRC_SUFFIX_LEN;
    if (journal_crc32c(journal_crc32c(0, line, body), "}", 1) != want) {
        snprintf(msg, msg_size, "checksum mismatch");
        return -1;
    }
    json_error_t err;
    json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!rec || !json_is_object(rec) || !has_header(rec)) {
        snprintf(msg, msg_size, "%s%s", rec ? "not a record with seq, ts and type" : "bad JSON: ",
                 rec ? "" : err.text);
        json_decref(rec);
        return -1;
    }
    json_object_del(rec, "crc");
    *out = rec;
    return 0;
}

int journal_line_has_record_prefix(const char *line, size_t len)
{
    static const char key[] = ",\"crc\":\"";
    uint32_t running = 0; /* CRC of line[0..done), carried along so the scan stays linear */
    size_t done = 0;
    for (const char *p = line; (p = memmem(p, len - (size_t)(p - line), key, 8)); p++) {
        size_t body = (size_t)(p - line), end = body + JOURNAL_CRC_SUFFIX_LEN;
        uint32_t want;
        if (end >= len)
            break;
        running = journal_crc32c(running, line + done, body - done);
        done = body;
        if (suffix_crc(line, end, &want) == 0 && journal_crc32c(running, "}", 1) == want)
            return 1;
    }
    return 0;
}
