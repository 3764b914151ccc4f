/* runbook validate: check files and folders of runbooks for CI, in four output formats. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "walk.h"
#include "runbook/show.h"

static const cli_opt validate_opts[] = {
    {"format", "FORMAT", "text (default), json, github or sarif", .choices = "text json github sarif"},
    {"strict", NULL, "treat DR lint warnings as errors"},
    {"exclude", "GLOB", "skip paths matching GLOB (also read from .runbookignore)", .flags = CLI_REPEAT},
    {"ignore", "RULE", "waive a lint rule everywhere (shown as suppressed in json and sarif)", .flags = CLI_REPEAT},
    CLI_OPT_COLOR,
    {NULL, NULL, NULL},
};

const cli_command cli_validate = {
    "validate", "validate [--format text|json|github|sarif] [--strict] [--exclude GLOB]... [--ignore RULE]... PATH...",
    "Check runbook files (folders recurse over *.yaml and *.yml); exit 1 if any is invalid.",
    validate_opts, cmd_validate, "paths"};

typedef struct validate_opts_t {
    rb_diag_format format;
    int strict;
    walk_ignore ignore;
    const char *rules[32]; /* --ignore RULE..., NULL-terminated */
    size_t nrules;
} vopts;

static int add_rule(vopts *o, const char *rule)
{
    size_t i = 0;
    while (rb_lint_rules[i] && strcmp(rb_lint_rules[i], rule))
        i++;
    if (!rb_lint_rules[i])
        return cli_usage_error(&cli_validate, "--ignore takes a lint rule (see docs/language.md), not '%s'", rule);
    if (o->nrules + 1 >= sizeof o->rules / sizeof *o->rules)
        return cli_usage_error(&cli_validate, "too many --ignore rules");
    o->rules[o->nrules++] = rb_lint_rules[i];
    return 0;
}

static int on_opt(int opt, const char *arg, void *ctx)
{
    vopts *o = ctx;
    if (opt == 0) {
        static const char *const names[] = {"text", "json", "github", "sarif"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(arg, names[i])) {
                o->format = (rb_diag_format)i;
                return 0;
            }
        return cli_usage_error(&cli_validate, "unknown format '%s' (text, json, github, sarif)", arg);
    }
    if (opt == 1)
        o->strict = 1;
    else if (opt == 3)
        return add_rule(o, arg);
    else if (walk_ignore_add(&o->ignore, ".", arg) != 0)
        return cli_usage_error(&cli_validate, "out of memory");
    return 0;
}

/* ---- JSON and SARIF ---- */

static json_t *diag_json(const rb_diag *g)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s}", "severity",
                          g->sev == RB_SEV_ERROR ? "error" : g->sev == RB_SEV_WARNING ? "warning" : "note",
                          "file", g->file ? g->file : "", "line", (int)g->line, "column", (int)g->col,
                          "message", g->message);
    if (o && g->rule)
        json_object_set_new(o, "rule", json_string(g->rule));
    if (o && g->hint)
        json_object_set_new(o, "hint", json_string(g->hint));
    if (o && g->waived)
        json_object_set_new(o, "suppressed", json_pack("{s:s, s:s}", "kind", g->waived_external ? "external" : "inSource",
                                                       "justification", g->waived));
    return o;
}

static void print_json(const rb_diags *d, const walk_files *files, const walk_files *skipped)
{
    json_t *root = json_object(), *list = json_array(), *diags = json_array(), *skips = json_array();
    for (size_t i = 0; i < files->count; i++) {
        json_t *f = json_pack("{s:s, s:b}", "path", files->paths[i], "valid", !files->failed[i]);
        json_array_append_new(list, f);
    }
    for (size_t i = 0; i < skipped->count; i++)
        json_array_append_new(skips, json_pack("{s:s, s:s}", "path", skipped->paths[i], "reason", "not a runbook"));
    json_object_set_new(root, "skipped", skips);
    for (size_t i = 0; i < d->count; i++)
        json_array_append_new(diags, diag_json(&d->items[i]));
    json_object_set_new(root, "files", list);
    json_object_set_new(root, "diagnostics", diags);
    json_object_set_new(root, "errors", json_integer((json_int_t)d->errors));
    json_object_set_new(root, "warnings", json_integer((json_int_t)d->warnings));
    json_object_set_new(root, "suppressed", json_integer((json_int_t)d->waived));
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(root);
}

/* relative to the repository, where the reference lives (each rule is a row of its table) */
#define LINT_DOCS_URI "docs/language.md"

static json_t *sarif_rules(void)
{
    json_t *rules = json_array();
    json_array_append_new(rules, json_pack("{s:s, s:{s:s}}", "id", "invalid", "shortDescription", "text",
                                           "the runbook breaks a rule of the language"));
    for (size_t i = 0; rb_lint_rules[i]; i++) {
        char uri[200];
        snprintf(uri, sizeof uri, "%s#%s", LINT_DOCS_URI, rb_lint_rules[i]);
        json_array_append_new(rules, json_pack("{s:s, s:{s:s}, s:s}", "id", rb_lint_rules[i], "shortDescription",
                                               "text", rb_lint_rule_doc(rb_lint_rules[i]), "helpUri", uri));
    }
    return rules;
}

static json_t *sarif_result(const rb_diag *g)
{
    char text[700];
    snprintf(text, sizeof text, "%s%s%s", g->message, g->hint ? " (hint: " : "", g->hint ? g->hint : "");
    if (g->hint)
        strncat(text, ")", sizeof text - strlen(text) - 1);
    json_t *region = json_pack("{s:i, s:i}", "startLine", g->line ? (int)g->line : 1, "startColumn",
                               g->col ? (int)g->col : 1);
    json_t *r = json_pack("{s:s, s:s, s:{s:s}, s:[{s:{s:{s:s}, s:o}}]}", "ruleId", g->rule ? g->rule : "invalid",
                          "level", g->sev == RB_SEV_ERROR ? "error" : g->sev == RB_SEV_WARNING ? "warning" : "note",
                          "message", "text", text, "locations", "physicalLocation", "artifactLocation", "uri",
                          g->file ? g->file : "", "region", region);
    if (r && g->waived) /* SARIF 2.1.0 §3.27.23: a suppressed result keeps its place in the log */
        json_object_set_new(r, "suppressions", json_pack("[{s:s, s:s}]", "kind", g->waived_external ? "external" : "inSource",
                                                         "justification", g->waived));
    return r;
}

static void print_sarif(const rb_diags *d)
{
    json_t *results = json_array();
    for (size_t i = 0; i < d->count; i++)
        json_array_append_new(results, sarif_result(&d->items[i]));
    json_t *driver = json_pack("{s:s, s:s, s:o}", "name", "runbook", "version", RUNBOOK_VERSION, "rules",
                               sarif_rules());
    json_t *root = json_pack("{s:s, s:s, s:[{s:{s:o}, s:o}]}", "$schema",
                             "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
                             "tool", "driver", driver, "results", results);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(root);
}

static void print_text_summary(const rb_diags *d, const walk_files *files, size_t skipped)
{
    size_t bad = 0;
    for (size_t i = 0; i < files->count; i++)
        bad += files->failed[i] != 0;
    rb_showf(stdout, NULL, "%zu file%s checked: %zu valid, %zu invalid (%zu error%s, %zu warning%s", files->count,
           files->count == 1 ? "" : "s", files->count - bad, bad, d->errors, d->errors == 1 ? "" : "s",
           d->warnings, d->warnings == 1 ? "" : "s");
    if (d->waived) /* waived warnings stay visible as a count (and in json and sarif) */
        rb_showf(stdout, NULL, ", %zu waived", d->waived);
    fputs(")", stdout);
    if (skipped)
        rb_showf(stdout, NULL, "; %zu skipped: not a runbook", skipped);
    fputs("\n", stdout);
}

static void report(const rb_diags *d, const walk_files *files, const walk_files *skipped, rb_diag_format format)
{
    if (format == RB_FMT_JSON)
        print_json(d, files, skipped);
    else if (format == RB_FMT_SARIF)
        print_sarif(d);
    else if (format == RB_FMT_GITHUB)
        rb_diags_print_github(d, stdout);
    else {
        rb_diags_print_text(d, stdout, cli_use_color(stdout));
        print_text_summary(d, files, skipped->count);
    }
}

static void move_file(walk_files *from, size_t i, walk_files *to)
{
    char **p = realloc(to->paths, (to->count + 1) * sizeof *p);
    if (p) {
        to->paths = p;
        to->paths[to->count++] = from->paths[i];
    } else {
        free(from->paths[i]);
    }
}

/* Files found in a folder that are other YAML (CI workflows, compose files) are not checked;
 * a file named on the command line always is. */
static void skip_non_runbooks(walk_files *files, walk_files *skipped)
{
    size_t kept = 0;
    for (size_t i = 0; i < files->count; i++) {
        if (!files->named[i] && !walk_is_runbook(files->paths[i])) {
            move_file(files, i, skipped);
            continue;
        }
        files->paths[kept] = files->paths[i];
        files->named[kept] = files->named[i];
        files->failed[kept++] = files->failed[i];
    }
    files->count = kept;
}

/* A run that checked nothing must not pass in CI: an empty folder, a wrong path, a too wide
 * --exclude. */
static int nothing_checked(const walk_files *skipped)
{
    rb_showf(stderr, NULL, "runbook validate: no runbook was checked");
    if (skipped->count)
        rb_showf(stderr, NULL, " (%zu YAML file%s skipped: not a runbook, no top-level 'runbook:' key)", skipped->count,
                 skipped->count == 1 ? "" : "s");
    rb_showf(stderr, NULL, "; check the paths, --exclude and .runbookignore\n");
    return EXIT_FAILED;
}

int cmd_validate(int argc, char **argv)
{
    vopts o = {0};
    walk_ignore_init(&o.ignore);
    char **pos;
    int npos, rc = cli_parse(&cli_validate, argc, argv, on_opt, &o, &pos, &npos);
    walk_files files = {0};
    if (rc == 0 && npos == 0)
        rc = cli_usage_error(&cli_validate, "name at least one file or folder");
    if (rc == 0)
        rc = walk_collect("validate", pos, npos, &o.ignore, &files);
    if (rc != 0) {
        walk_ignore_cleanup(&o.ignore);
        walk_files_free(&files);
        return rc < 0 ? EXIT_OK : rc;
    }
    walk_files skipped = {0};
    skip_non_runbooks(&files, &skipped);
    if (files.count == 0) {
        rc = nothing_checked(&skipped);
        walk_ignore_cleanup(&o.ignore);
        walk_files_free(&files);
        walk_files_free(&skipped);
        return rc;
    }
    rb_catalog *cat = cli_catalog();
    rb_diags d;
    rb_diags_init(&d);
    for (size_t i = 0; i < files.count; i++) {
        cli_loaded l;
        files.failed[i] = cli_load_checked_ignoring(files.paths[i], cat, o.strict, o.rules, &d, &l) != 0;
        cli_loaded_free(&l);
    }
    report(&d, &files, &skipped, o.format);
    size_t errors = d.errors;
    rb_diags_cleanup(&d);
    rb_catalog_free(cat);
    walk_ignore_cleanup(&o.ignore);
    walk_files_free(&files);
    walk_files_free(&skipped);
    return errors ? EXIT_FAILED : EXIT_OK;
}
