/* runbook list: the runbooks of a folder (or of RUNBOOK_PATH) with title, severity and RTO. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/expr.h"
#include "walk.h"
#include "runbook/show.h"

static const cli_opt list_opts[] = {{NULL, NULL, NULL}};

const cli_command cli_list = {"list", "list [DIR]",
                              "List runbooks: name, title, severity and RTO (default: RUNBOOK_PATH).",
                              list_opts, cmd_list};

static int ignore_opt(int opt, const char *arg, void *ctx) { return 0; }

static void print_row(const char *path)
{
    rb_diags quiet;
    rb_diags_init(&quiet);
    rb_runbook *rb = rb_runbook_load(path, &quiet);
    char rto[32] = "-";
    if (rb && rb->rto_ms >= 0)
        rb_duration_format(rb->rto_ms, rto, sizeof rto);
    if (!rb || !rb->name)
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s (does not load: run runbook validate)\n", path, "-", "-", "?");
    else
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s%s\n", rb->name, rb_severity_name(rb->severity), rto,
               rb->title ? rb->title : "", quiet.errors ? "  [invalid]" : "");
    rb_runbook_free(rb);
    rb_diags_cleanup(&quiet);
}

int cmd_list(int argc, char **argv)
{
    char **pos;
    int npos, rc = cli_parse(&cli_list, argc, argv, ignore_opt, NULL, &pos, &npos);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if (npos > 1)
        return cli_usage_error(&cli_list, "name at most one folder");
    const char *env = getenv("RUNBOOK_PATH");
    char *dirs = strdup(npos ? pos[0] : env && *env ? env : "./runbooks"), *save = NULL;
    walk_ignore ign;
    walk_ignore_init(&ign);
    walk_files files = {0};
    for (char *d = strtok_r(dirs, ":", &save); d && rc == 0; d = strtok_r(NULL, ":", &save))
        rc = walk_collect(&d, 1, &ign, &files);
    if (rc == 0) {
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s\n", "NAME", "SEVERITY", "RTO", "TITLE");
        for (size_t i = 0; i < files.count; i++)
            print_row(files.paths[i]);
    }
    walk_files_free(&files);
    walk_ignore_cleanup(&ign);
    free(dirs);
    return rc;
}
