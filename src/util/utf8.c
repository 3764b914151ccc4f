#include "util/utf8.h"

long rb_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : lo, hi = c == 0xed ? 0x9f : hi;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : lo, hi = c == 0xf4 ? 0x8f : hi;
    else
        return -1;
    uint32_t v = c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if (k >= n || s[k] < lo || s[k] > hi)
            return -(long)k;
        v = v << 6 | (s[k] & 0x3f);
        lo = 0x80, hi = 0xbf;
    }
    *cp = v;
    return (long)len;
}
