/* Durations: "250ms", "90s", "1h30m", "2d" <-> integer milliseconds. Units come in descending
 * order, each at most once, so every duration has one spelling and 1h30m is not 30m1h. */
#include <stdio.h>
#include <string.h>

#include "runbook/expr.h"

static const struct {
    const char *name;
    long long ms;
} units[] = {{"d", 86400000LL}, {"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL}, {"ms", 1LL}};

#define NUNITS (sizeof units / sizeof units[0])

/* The unit at s[*i]; "ms" is tried before "m". Returns its index or -1. */
static int read_unit(const char *s, size_t len, size_t *i)
{
    if (*i + 1 < len && s[*i] == 'm' && s[*i + 1] == 's') {
        *i += 2;
        return 4;
    }
    for (int u = 0; u < 4; u++) {
        if (*i < len && s[*i] == units[u].name[0]) {
            (*i)++;
            return u;
        }
    }
    return -1;
}

static int read_number(const char *s, size_t len, size_t *i, long long *n)
{
    size_t start = *i;
    *n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (__builtin_mul_overflow(*n, 10, n) || __builtin_add_overflow(*n, s[*i] - '0', n))
            return -1;
        (*i)++;
    }
    return *i > start ? 0 : -1;
}

int rb_duration_parse(const char *s, size_t len, long long *ms)
{
    long long total = 0, n, part;
    int last = -1;
    size_t i = 0;
    if (!s || len == 0)
        return -1;
    while (i < len) {
        if (read_number(s, len, &i, &n) < 0)
            return -1;
        int u = read_unit(s, len, &i);
        if (u <= last || __builtin_mul_overflow(n, units[u].ms, &part) ||
            __builtin_add_overflow(total, part, &total))
            return -1; /* no unit (u == -1), a unit out of order, or overflow */
        last = u;
    }
    if (ms)
        *ms = total;
    return 0;
}

/* Largest units first ("1h30m", "1s500ms"): the spelling rb_duration_parse accepts. */
void rb_duration_format(long long ms, char *buf, size_t len)
{
    size_t used = 0;
    unsigned long long left = ms < 0 ? 0ULL - (unsigned long long)ms : (unsigned long long)ms;
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (ms < 0)
        used += (size_t)snprintf(buf, len, "-");
    if (left == 0)
        snprintf(buf + used, len - used, "0s");
    for (size_t u = 0; u < NUNITS && left > 0 && used < len; u++) {
        unsigned long long q = left / (unsigned long long)units[u].ms;
        left %= (unsigned long long)units[u].ms;
        if (q)
            used += (size_t)snprintf(buf + used, len - used, "%llu%s", q, units[u].name);
    }
}
