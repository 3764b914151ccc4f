/* runbook list: the runbooks of a folder (or of RUNBOOK_PATH) with title, severity and RTO. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runbook/expr.h"
#include "walk.h"
#include "runbook/show.h"

static const cli_opt list_opts[] = {{NULL, NULL, NULL}};

const cli_command cli_list = {"list", "list [DIR]",
                              "List runbooks: name, title, severity and RTO (default: RUNBOOK_PATH); marks invalid ones.",
                              list_opts, cmd_list, "dirs"};

static int ignore_opt(int opt, const char *arg, void *ctx) { return 0; }

/* One row; an invalid runbook is listed too (it is still what the team has), marked so that
 * nobody reaches for it mid-outage without fixing it first. */
static void print_row(const char *path, rb_catalog *cat)
{
    rb_diags quiet;
    rb_diags_init(&quiet);
    cli_loaded l;
    size_t errors = cli_load_checked(path, cat, 0, &quiet, &l);
    const rb_runbook *rb = l.rb;
    char rto[32] = "-";
    if (rb && rb->rto_ms >= 0)
        rb_duration_format(rb->rto_ms, rto, sizeof rto);
    if (!rb || !rb->name)
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s  [invalid: does not load; see runbook validate %s]\n", path, "-", "-",
                 "?", path);
    else if (errors)
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s  [invalid: %zu error%s; see runbook validate %s]\n", rb->name,
                 rb_severity_name(rb->severity), rto, rb->title ? rb->title : "", errors, errors == 1 ? "" : "s", path);
    else
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s\n", rb->name, rb_severity_name(rb->severity), rto,
                 rb->title ? rb->title : "");
    cli_loaded_free(&l);
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
        rc = walk_collect("list", &d, 1, &ign, &files);
    rb_catalog *cat = rc == 0 ? cli_catalog() : NULL;
    if (rc == 0) {
        rb_showf(stdout, NULL, "%-26s %-9s %-6s %s\n", "NAME", "SEVERITY", "RTO", "TITLE");
        for (size_t i = 0; i < files.count; i++)
            if (walk_is_runbook(files.paths[i]))
                print_row(files.paths[i], cat);
    }
    rb_catalog_free(cat);
    walk_files_free(&files);
    walk_ignore_cleanup(&ign);
    free(dirs);
    return rc;
}
