/* Option parsing driven by each command's table, so --help and parsing never disagree. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/show.h"

#define MAX_OPTS 32

void cli_help(const cli_command *cmd, FILE *out)
{
    rb_showf(out, NULL, "usage: runbook %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->opts[0].name)
        fputs("\noptions:\n", out);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        rb_showf(out, NULL, "  %-24s %s\n", left, o->help);
    }
    rb_showf(out, NULL, "  %-24s %s\n", "--help", "show this help");
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

int cli_parse(const cli_command *cmd, int argc, char **argv,
              int (*on_opt)(int opt, const char *arg, void *ctx), void *ctx, char ***pos, int *npos)
{
    struct option longs[MAX_OPTS + 2];
    int n = 0;
    for (; cmd->opts[n].name && n < MAX_OPTS; n++)
        longs[n] = (struct option){cmd->opts[n].name, cmd->opts[n].arg ? required_argument : no_argument, NULL, n};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){0, 0, 0, 0};
    optind = 1;
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":", longs, &idx)) != -1) {
        if (c == 'h') {
            cli_help(cmd, stdout);
            return -1;
        }
        if (c == '?')
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        if (c == ':')
            return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        int rc = on_opt(c, optarg, ctx);
        if (rc)
            return rc;
    }
    *pos = argv + optind;
    *npos = argc - optind;
    return 0;
}
