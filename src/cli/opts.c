/* Option parsing driven by each command's table, so --help, parsing, the man page and shell
 * completion never disagree: short forms, repeatable options and conflicts are data there. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/show.h"

#define MAX_OPTS 32
#define LONG_BASE 1000 /* getopt_long's value for table entry n; above every short option */

int cli_color_mode;

/* 1 when `name` is one of the space-separated words of `list`. */
int cli_word_in(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len;
        p += *p == ' ';
    }
    return 0;
}

/* 1 when options a and b of one table may not be given together (declared on either side). */
static int in_conflict(const cli_opt *a, const cli_opt *b)
{
    return cli_word_in(a->conflicts, b->name) || cli_word_in(b->conflicts, a->name);
}

/* "(repeatable)", "(one of: ...)", "(not with --x)": what the table says beyond the help text. */
static void put_notes(const cli_command *cmd, const cli_opt *o, FILE *out)
{
    if (o->flags & CLI_REPEAT)
        fputs(" (repeatable)", out);
    for (const cli_opt *p = cmd->opts; p->name; p++)
        if (p != o && in_conflict(o, p))
            rb_showf(out, NULL, " (not with --%s)", p->name);
}

void cli_option_left(const cli_opt *o, char *buf, size_t len)
{
    char shortform[8] = "    ";
    if (o->short_name)
        snprintf(shortform, sizeof shortform, "-%c, ", o->short_name);
    snprintf(buf, len, "%s--%s%s%s", shortform, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

void cli_help(const cli_command *cmd, FILE *out)
{
    rb_showf(out, NULL, "usage: runbook %s\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        if (o->flags & CLI_HIDDEN)
            continue;
        char left[64];
        cli_option_left(o, left, sizeof left);
        rb_showf(out, NULL, "  %-26s %s", left, o->help);
        put_notes(cmd, o, out);
        fputc('\n', out);
    }
    rb_showf(out, NULL, "  %-26s %s\n", "-h, --help", "show this help");
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rb_showf(stderr, NULL, "runbook %s: ", cmd->name);
    rb_vshowf(stderr, NULL, fmt, ap);
    va_end(ap);
    rb_showf(stderr, NULL, "\nusage: runbook %s\n", cmd->usage);
    return EXIT_USAGE;
}

/* getopt's tables from ours: long options valued LONG_BASE + index, short ones by their letter. */
static size_t build_getopt(const cli_command *cmd, struct option *longs, char *shorts)
{
    size_t n = 0, k = 0;
    shorts[k++] = ':';
    shorts[k++] = 'h';
    for (; cmd->opts[n].name && n < MAX_OPTS; n++) {
        const cli_opt *o = &cmd->opts[n];
        longs[n] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, LONG_BASE + (int)n};
        if (o->short_name) {
            shorts[k++] = o->short_name;
            if (o->arg)
                shorts[k++] = ':';
        }
    }
    shorts[k] = 0;
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){0, 0, 0, 0};
    return n;
}

/* The table index of what getopt_long returned, or -1. */
static int option_index(const cli_command *cmd, int c)
{
    if (c >= LONG_BASE)
        return c - LONG_BASE;
    for (int n = 0; cmd->opts[n].name; n++)
        if (cmd->opts[n].short_name == c)
            return n;
    return -1;
}

static int unknown_option(const cli_command *cmd, const char *word, int short_name)
{
    if (short_name)
        return cli_usage_error(cmd, "unknown option '-%c'", short_name);
    const char *names[MAX_OPTS + 2] = {0};
    size_t n = 0;
    for (; cmd->opts[n].name && n < MAX_OPTS; n++)
        names[n] = cmd->opts[n].name;
    names[n] = "help";
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)strcspn(word + 2, "="), word + 2);
    const char *hint = word[0] == '-' && word[1] == '-' ? rb_suggest(key, names) : NULL;
    if (hint)
        return cli_usage_error(cmd, "unknown option '%s' (did you mean --%s?)", word, hint);
    return cli_usage_error(cmd, "unknown option '%s'", word);
}

static int set_color(const cli_command *cmd, const char *arg)
{
    static const char *const modes[] = {"never", "auto", "always"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(arg, modes[i])) {
            cli_color_mode = i - 1;
            return 0;
        }
    return cli_usage_error(cmd, "--color takes auto, always or never, not '%s'", arg);
}

/* Once all options are read: a value given twice, or two options that exclude each other. */
static int check_counts(const cli_command *cmd, const unsigned char *seen)
{
    for (size_t i = 0; cmd->opts[i].name; i++) {
        const cli_opt *o = &cmd->opts[i];
        for (size_t k = i + 1; seen[i] && cmd->opts[k].name; k++)
            if (seen[k] && in_conflict(o, &cmd->opts[k]))
                return cli_usage_error(cmd, "--%s and --%s cannot be used together", o->name, cmd->opts[k].name);
    }
    return 0;
}

static int take_option(const cli_command *cmd, int n, const char *arg, unsigned char *seen,
                       int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx)
{
    const cli_opt *o = &cmd->opts[n];
    if (seen[n] && o->arg && !(o->flags & CLI_REPEAT))
        return cli_usage_error(cmd, "--%s is given twice ('%s'): give it once", o->name, arg);
    seen[n] = 1;
    return o->flags & CLI_COLOR ? set_color(cmd, arg) : on_opt(n, arg, ctx);
}

int cli_parse(const cli_command *cmd, int argc, char **argv,
              int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx, char ***pos, int *npos)
{
    struct option longs[MAX_OPTS + 2];
    char shorts[2 * MAX_OPTS + 3];
    unsigned char seen[MAX_OPTS] = {0};
    build_getopt(cmd, longs, shorts);
    optind = 1;
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, shorts, longs, &idx)) != -1) {
        if (c == 'h') {
            cli_help(cmd, stdout);
            return -1;
        }
        if (c == '?')
            return unknown_option(cmd, argv[optind - 1], optopt < LONG_BASE ? optopt : 0);
        if (c == ':')
            return optopt && optopt < LONG_BASE
                       ? cli_usage_error(cmd, "option '-%c' needs a value", optopt)
                       : cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        int n = option_index(cmd, c), rc = n < 0 ? EXIT_USAGE : take_option(cmd, n, optarg, seen, on_opt, ctx);
        if (rc)
            return rc;
    }
    int rc = check_counts(cmd, seen);
    if (rc)
        return rc;
    *pos = argv + optind;
    *npos = argc - optind;
    return 0;
}
