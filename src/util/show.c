/* Text for a person: masked, then every control character made visible (see show.h). */
#include "runbook/show.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char rb_show_bold[] = "\033[1m", rb_show_dim[] = "\033[2m", rb_show_reset[] = "\033[0m";

static int trusted(const char *s)
{
    return s == rb_show_bold || s == rb_show_dim || s == rb_show_reset;
}

/* The length of the well-formed UTF-8 character at s[0..n) and its code point, or 0 when the
 * byte there does not start one. */
static size_t utf8_at(const unsigned char *s, size_t n, uint32_t *cp)
{
    long len = rb_utf8_decode(s, n, cp);
    return len > 0 ? (size_t)len : 0;
}

/* Code points that reorder or break lines when shown, or act as controls. */
static int invisible_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

size_t rb_show_incomplete_tail(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = p[len - back];
        if ((c & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back for the lead */
        size_t need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Appends to out (which has room for 6 bytes per input byte) and returns the new length. */
static size_t escape_into(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        uint32_t cp = 0;
        size_t n = c >= 0x80 ? utf8_at(p + i, len - i, &cp) : 1;
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f) || (n > 1 && !invisible_control(cp))) {
            memcpy(out + w, s + i, n);
            w += n;
        } else if (c == 0x1b || c == '\r') {
            out[w++] = '\\';
            out[w++] = c == 0x1b ? 'e' : 'r';
        } else if (n > 1) {
            w += (size_t)sprintf(out + w, "\\u%04x", (unsigned)cp);
        } else {
            out[w++] = '\\', out[w++] = 'x', out[w++] = hex[c >> 4], out[w++] = hex[c & 15];
            n = 1; /* an ill-formed byte: the next one is looked at afresh */
        }
        i += n ? n : 1;
    }
    out[w] = 0;
    return w;
}

char *rb_show_escape(const char *s, size_t len, size_t *out_len)
{
    if (len > (SIZE_MAX - 1) / 6)
        return NULL;
    char *out = malloc(6 * len + 1); /* "\u202e" from three bytes; "\x1b" from one: 4 */
    if (!out)
        return NULL;
    size_t w = escape_into(out, s ? s : "", len);
    if (out_len)
        *out_len = w;
    return out;
}

/* Masks, cuts to `precision` bytes (negative: no cut) on a character boundary, escapes. */
static char *shown_text(const rb_masker *m, const char *s, size_t len, long precision, size_t *out_len)
{
    size_t mlen = len;
    char *masked = m ? rb_mask_apply(m, s, len, &mlen) : NULL;
    if (m && !masked)
        return NULL;
    const char *t = masked ? masked : s;
    if (precision >= 0 && mlen > (size_t)precision) {
        mlen = (size_t)precision;
        while (mlen && ((unsigned char)t[mlen] & 0xc0) == 0x80)
            mlen--; /* not inside a character */
    }
    char *out = rb_show_escape(t, mlen, out_len);
    free(masked);
    return out;
}

void rb_show(FILE *f, const rb_masker *m, const char *s, size_t len)
{
    size_t n;
    char *out = shown_text(m, s ? s : "", len, -1, &n);
    if (out)
        fwrite(out, 1, n, f);
    free(out);
}

/* Characters, not bytes, for padding to a width. */
static size_t columns(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static int put_text(FILE *f, const rb_masker *m, const char *s, size_t len, long precision, int width,
                    int left)
{
    size_t n;
    char *out = shown_text(m, s, len, precision, &n);
    if (!out)
        return -1;
    size_t cols = columns(out, n), pad = width > 0 && (size_t)width > cols ? (size_t)width - cols : 0;
    for (size_t i = 0; !left && i < pad; i++)
        fputc(' ', f);
    fwrite(out, 1, n, f);
    for (size_t i = 0; left && i < pad; i++)
        fputc(' ', f);
    free(out);
    return (int)(n + pad);
}

/* One conversion spec, parsed: what printf needs to format a number the same way. */
typedef struct spec {
    char text[32]; /* "%-08.3ll" plus the conversion, '*' replaced by numbers */
    int width, left, has_width;
    long precision; /* -1: none */
    int len_mod;    /* 0 int, 'h' short, 'H' char, 'l' long, 'L' long long, 'z' size, 'j' intmax, 't' ptrdiff */
    char conv;
} spec;

static const char *parse_spec(const char *p, spec *sp, va_list *ap)
{
    size_t w = 0;
    sp->text[w++] = '%';
    sp->width = 0, sp->left = 0, sp->has_width = 0, sp->precision = -1, sp->len_mod = 0;
    while (*p && strchr("-+ #0", *p)) {
        sp->left |= *p == '-';
        if (w < 8)
            sp->text[w++] = *p;
        p++;
    }
    if (*p == '*') {
        sp->width = va_arg(*ap, int), sp->has_width = 1, p++;
        if (sp->width < 0)
            sp->left = 1, sp->width = -sp->width;
    } else
        for (; *p >= '0' && *p <= '9'; p++)
            sp->width = sp->width * 10 + (*p - '0'), sp->has_width = 1;
    if (sp->width > 4096)
        sp->width = 4096;
    if (*p == '.') {
        p++;
        sp->precision = 0;
        if (*p == '*') {
            int v = va_arg(*ap, int);
            sp->precision = v < 0 ? -1 : v;
            p++;
        } else
            for (; *p >= '0' && *p <= '9'; p++)
                sp->precision = sp->precision * 10 + (*p - '0');
    }
    if (*p == 'h')
        sp->len_mod = p[1] == 'h' ? 'H' : 'h', p += p[1] == 'h' ? 2 : 1;
    else if (*p == 'l')
        sp->len_mod = p[1] == 'l' ? 'L' : 'l', p += p[1] == 'l' ? 2 : 1;
    else if (*p == 'z' || *p == 'j' || *p == 't')
        sp->len_mod = *p++;
    sp->conv = *p;
    if (sp->has_width)
        w += (size_t)snprintf(sp->text + w, sizeof sp->text - w, "%d", sp->width);
    if (sp->precision >= 0 && w < 20)
        w += (size_t)snprintf(sp->text + w, sizeof sp->text - w, ".%ld", sp->precision);
    static const char *const mods[] = {"", "h", "hh", "l", "ll", "z", "j", "t"};
    const char *mod = mods[sp->len_mod == 'h' ? 1 : sp->len_mod == 'H' ? 2 : sp->len_mod == 'l' ? 3 : sp->len_mod == 'L' ? 4
                           : sp->len_mod == 'z' ? 5 : sp->len_mod == 'j' ? 6 : sp->len_mod == 't' ? 7 : 0];
    snprintf(sp->text + w, sizeof sp->text - w, "%s%c", mod, sp->conv ? sp->conv : '%');
    return *p ? p + 1 : p;
}

/* A number formatted as printf does (it holds no control character). */
static int put_number(FILE *f, const spec *sp, va_list *ap)
{
    char c = sp->conv;
    if (c == 'f' || c == 'g' || c == 'e' || c == 'F' || c == 'G' || c == 'E')
        return fprintf(f, sp->text, va_arg(*ap, double));
    if (c == 'p')
        return fprintf(f, sp->text, va_arg(*ap, void *));
    int sign = c == 'd' || c == 'i';
    switch (sp->len_mod) {
    case 'l':
        return sign ? fprintf(f, sp->text, va_arg(*ap, long)) : fprintf(f, sp->text, va_arg(*ap, unsigned long));
    case 'L':
        return sign ? fprintf(f, sp->text, va_arg(*ap, long long))
                    : fprintf(f, sp->text, va_arg(*ap, unsigned long long));
    case 'z':
        return fprintf(f, sp->text, va_arg(*ap, size_t));
    case 'j':
        return sign ? fprintf(f, sp->text, va_arg(*ap, intmax_t)) : fprintf(f, sp->text, va_arg(*ap, uintmax_t));
    case 't':
        return fprintf(f, sp->text, va_arg(*ap, ptrdiff_t));
    default: /* int, and short and char, which are promoted to int */
        return sign ? fprintf(f, sp->text, va_arg(*ap, int)) : fprintf(f, sp->text, va_arg(*ap, unsigned));
    }
}

int rb_vshowf(FILE *f, const rb_masker *m, const char *fmt, va_list ap_in)
{
    va_list ap;
    va_copy(ap, ap_in);
    int total = 0;
    for (const char *p = fmt; *p;) {
        const char *pct = strchr(p, '%');
        size_t lit = pct ? (size_t)(pct - p) : strlen(p);
        fwrite(p, 1, lit, f); /* the program's own text */
        total += (int)lit;
        if (!pct)
            break;
        spec sp;
        p = parse_spec(pct + 1, &sp, &ap);
        int n;
        if (sp.conv == '%') {
            fputc('%', f);
            n = 1;
        } else if (sp.conv == 's') {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            if (trusted(s))
                n = fputs(s, f) < 0 ? -1 : (int)strlen(s);
            else
                n = put_text(f, m, s, strlen(s), sp.precision, sp.width, sp.left);
        } else if (sp.conv == 'c') {
            char ch = (char)va_arg(ap, int);
            n = put_text(f, m, &ch, 1, -1, sp.width, sp.left);
        } else if (sp.conv && strchr("diuxXofgeFGEp", sp.conv)) {
            n = put_number(f, &sp, &ap);
        } else {
            n = -1; /* an unknown conversion: its argument cannot be skipped safely */
        }
        if (n < 0) {
            va_end(ap);
            return -1;
        }
        total += n;
    }
    va_end(ap);
    return total;
}

int rb_showf(FILE *f, const rb_masker *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = rb_vshowf(f, m, fmt, ap);
    va_end(ap);
    return n;
}
