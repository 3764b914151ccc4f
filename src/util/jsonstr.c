/* Strings from outside made fit for JSON (the journal, the actions' outputs): valid UTF-8
 * (jansson insists) and bounded. */
#include "runbook/jsonstr.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* Copies the lossy UTF-8 of s[0..len) into out, whole characters only, at most `limit` bytes.
 * Returns the bytes written. */
static size_t lossy_copy(char *out, size_t limit, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        long n = rb_utf8_decode(p + i, len - i, &cp);
        const char *src = n > 0 ? s + i : REPLACEMENT;
        size_t out_n = n > 0 ? (size_t)n : 3;
        if (w + out_n > limit)
            break;
        memcpy(out + w, src, out_n);
        w += out_n;
        i += n > 0 ? (size_t)n : (size_t)-n;
    }
    return w;
}

json_t *rb_json_string_lossy(const char *s, size_t len)
{
    if (!len)
        return json_string("");
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *buf = malloc(3 * len); /* each bad byte can become three */
    if (!buf)
        return NULL;
    json_t *j = json_stringn_nocheck(buf, lossy_copy(buf, 3 * len, s, len));
    free(buf);
    return j;
}

json_t *rb_json_string_bounded(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return rb_json_string_lossy(s, len);
    char marker[64];
    size_t mlen = (size_t)snprintf(marker, sizeof marker, "...[truncated, %zu bytes]", len);
    size_t keep = max > mlen ? max - mlen : 0;
    char *buf = malloc(keep + mlen);
    if (!buf)
        return NULL;
    size_t w = lossy_copy(buf, keep, s, len);
    memcpy(buf + w, marker, mlen);
    json_t *j = json_stringn_nocheck(buf, w + mlen);
    free(buf);
    return j;
}

int rb_json_truncate_field(json_t *obj, const char *key, size_t max)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) <= max)
        return 0;
    json_t *cut = rb_json_string_bounded(json_string_value(v), json_string_length(v), max);
    return cut ? json_object_set_new(obj, key, cut) : -1;
}
