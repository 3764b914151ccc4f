/* The action registry: one const table per action, naming its parameters and outputs.
 * The checker, the schema test and (later) the executor all read these tables. */
#include <string.h>

#include "runbook/action.h"
#include "runbook/model.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define KINDS(...) (__VA_ARGS__)
#define K(kind) (1u << (kind))

static const char *const process_outputs[] = {"exit_code", "stdout", "stderr", NULL};
static const char *const http_outputs[] = {"status", "body", "headers", "json", NULL};
static const char *const sql_outputs[] = {"rows", "value", "row_count", "sqlstate", NULL};
static const char *const file_outputs[] = {"path", "changed", NULL};
static const char *const dns_outputs[] = {"answers", "rcode", "ttl", "type", NULL};
static const char *const no_outputs[] = {NULL};

static const char *const process_expect[] = {"exit_code", "stdout", NULL};
static const char *const http_expect[] = {"status", "body", "json", NULL};
static const char *const sql_expect[] = {"value", "row_count", NULL};
static const char *const dns_expect[] = {"value", "servers_min", "rcode", NULL};
static const char *const process_journaled[] = {"exit_code", NULL};
static const char *const http_journaled[] = {"status", NULL};
static const char *const sql_journaled[] = {"row_count", "sqlstate", NULL};
static const char *const dns_journaled[] = {"rcode", NULL};

#define CAP(k) (1u << (k))
#define TEXT_CAPTURES (CAP(RB_CAP_RE) | CAP(RB_CAP_JSON))

const char *const rb_common_outputs[] = {"outcome", "attempts", "duration", NULL};

static const rb_param_def exec_params[] = {
    {"argv", RB_P_TEMPLATE_LIST, RB_PF_REQUIRED, "program and arguments; each item is one argument"},
    {"env", RB_P_TEMPLATE_MAP, 0, "extra environment variables (the way to pass secrets)"},
    {"cwd", RB_P_TEMPLATE, 0, "working directory"},
    {"stdin", RB_P_TEMPLATE, 0, "text written to the program's standard input"},
};
static const rb_action_type exec_type = {
    "exec", exec_params, COUNT(exec_params), "argv", K(RB_NODE_SEQ), process_outputs, NULL, 0, 0,
    .argv_param = "argv", .capture_text = "stdout", .capture_kinds = TEXT_CAPTURES,
    .expect_keys = process_expect, .journal_fields = process_journaled, .ops = &rb_exec_ops};

static const rb_param_def shell_params[] = {
    {"script", RB_P_TEMPLATE, RB_PF_REQUIRED, "script for /bin/sh; each ${{ }} is read from a variable, never as code"},
    {"env", RB_P_TEMPLATE_MAP, 0, "extra environment variables"},
    {"cwd", RB_P_TEMPLATE, 0, "working directory"},
    {"stdin", RB_P_TEMPLATE, 0, "text written to the script's standard input"},
};
static const rb_action_type shell_type = {
    "shell", shell_params, COUNT(shell_params), "script", K(RB_NODE_SCALAR), process_outputs, NULL, 0, 0,
    .quoted_param = "script", .capture_text = "stdout", .capture_kinds = TEXT_CAPTURES,
    .expect_keys = process_expect, .journal_fields = process_journaled, .ops = &rb_shell_ops};

static const rb_param_def http_params[] = {
    {"url", RB_P_TEMPLATE, 0, "full URL (or use target + path)"},
    {"target", RB_P_TARGET, 0, "an http target: base URL, TLS choices, default headers"},
    {"path", RB_P_TEMPLATE, 0, "path appended to the target's base_url"},
    {"method", RB_P_METHOD, 0, "GET (default), HEAD, POST, PUT, PATCH or DELETE"},
    {"headers", RB_P_TEMPLATE_MAP, 0, "request headers"},
    {"query", RB_P_TEMPLATE_MAP, 0, "query parameters, percent-encoded"},
    {"json", RB_P_ANY, 0, "a JSON request body; a scalar that is one ${{ }} keeps its type"},
    {"body", RB_P_TEMPLATE, 0, "a raw request body"},
    {"timeout", RB_P_DURATION, 0, "transfer time limit"},
    {"follow_redirects", RB_P_BOOL, 0, "follow 3xx redirects (default false)"},
};
static const rb_action_type http_type = {
    "http", http_params, COUNT(http_params), NULL, 0, http_outputs, "http", 1, 1,
    .capture_text = "body", .capture_kinds = TEXT_CAPTURES, .expect_keys = http_expect,
    .journal_fields = http_journaled, .ops = &rb_http_ops};

static const rb_param_def sql_params[] = {
    {"target", RB_P_TARGET, RB_PF_REQUIRED, "a postgres target"},
    {"query", RB_P_SQL, RB_PF_REQUIRED, "SQL text; values go in params as $1, $2, ..."},
    {"params", RB_P_TEMPLATE_LIST, 0, "bound parameters"},
};
static const rb_action_type sql_type = {
    "sql", sql_params, COUNT(sql_params), NULL, 0, sql_outputs, "postgres", 0, 1,
    .capture_text = "value", .capture_kinds = CAP(RB_CAP_RE) | CAP(RB_CAP_COLUMN),
    .expect_keys = sql_expect, .journal_fields = sql_journaled, .ops = &rb_sql_ops};

static const rb_param_def ssh_params[] = {
    {"target", RB_P_TARGET, RB_PF_REQUIRED, "an ssh target"},
    {"command", RB_P_TEMPLATE, RB_PF_REQUIRED, "remote command; each ${{ }} is read from a variable, never as code"},
    {"stdin", RB_P_TEMPLATE, 0, "text written to the command's standard input"},
    {"env", RB_P_TEMPLATE_MAP, 0, "environment variables exported before the command"},
};
static const rb_action_type ssh_type = {
    "ssh", ssh_params, COUNT(ssh_params), NULL, 0, process_outputs, "ssh", 0, 1,
    .quoted_param = "command", .capture_text = "stdout", .capture_kinds = TEXT_CAPTURES,
    .expect_keys = process_expect, .journal_fields = process_journaled, .ops = &rb_ssh_ops};

/* No captures: its outputs are objects by server, read as steps.ID.answers["IP:PORT"]. */
static const rb_param_def dns_params[] = {
    {"name", RB_P_TEMPLATE, RB_PF_REQUIRED, "the domain name to look up"},
    {"type", RB_P_TEMPLATE, 0, "A (default), AAAA, CNAME, TXT, NS or SOA"},
    {"servers", RB_P_TEMPLATE_LIST, 0, "resolvers asked, each separately: \"IP\" or \"IP:PORT\" (default: the system's)"},
};
static const rb_action_type dns_type = {
    "dns", dns_params, COUNT(dns_params), NULL, 0, dns_outputs, NULL, 1, 1,
    .expect_keys = dns_expect, .journal_fields = dns_journaled, .ops = &rb_dns_ops};

static const rb_param_def sleep_params[] = {
    {"duration", RB_P_DURATION, RB_PF_REQUIRED, "how long to wait"},
};
static const rb_action_type sleep_type = {
    "sleep", sleep_params, COUNT(sleep_params), "duration", K(RB_NODE_SCALAR), no_outputs, NULL, 1, 0,
    .flags = RB_AT_SELF_TIMED, .ops = &rb_sleep_ops};

static const rb_param_def assert_params[] = {
    {"that", RB_P_EXPRS, RB_PF_REQUIRED, "expressions that must all hold"},
};
static const rb_action_type assert_type = {
    "assert", assert_params, COUNT(assert_params), "that", KINDS(K(RB_NODE_SCALAR) | K(RB_NODE_SEQ)),
    no_outputs, NULL, 1, 0, .ops = &rb_assert_ops};

static const rb_param_def file_params[] = {
    {"path", RB_P_TEMPLATE, RB_PF_REQUIRED, "file to write atomically"},
    {"content", RB_P_TEMPLATE, RB_PF_REQUIRED, "the new content"},
    {"mode", RB_P_MODE, 0, "octal mode such as \"0600\" (default \"0644\")"},
    {"target", RB_P_TARGET, 0, "an ssh target: the file is written on that host over SFTP"},
};
static const rb_action_type file_type = {
    "file", file_params, COUNT(file_params), NULL, 0, file_outputs, "ssh", 0, 0,
    .flags = RB_AT_SELF_UNDO, .ops = &rb_file_ops};

static const rb_param_def runbook_params[] = {
    {"name", RB_P_RUNBOOK, RB_PF_REQUIRED, "the runbook to call, found on RUNBOOK_PATH"},
    {"inputs", RB_P_TEMPLATE_MAP, 0, "inputs of the called runbook"},
};
static const rb_action_type runbook_type = {
    "runbook", runbook_params, COUNT(runbook_params), NULL, 0, no_outputs, NULL, 0, 0,
    .flags = RB_AT_CALLS_RUNBOOK | RB_AT_SELF_TIMED, .ops = &rb_runbook_ops};

const rb_action_type *const rb_action_types[] = {
    &exec_type, &shell_type, &http_type, &sql_type, &ssh_type,
    &sleep_type, &assert_type, &file_type, &runbook_type, &dns_type, NULL,
};

const rb_action_type *rb_action_type_find(const char *name)
{
    /* called for every key of every step: the first letter rules out most names cheaply */
    for (size_t i = 0; rb_action_types[i]; i++)
        if (rb_action_types[i]->name[0] == name[0] && strcmp(rb_action_types[i]->name, name) == 0)
            return rb_action_types[i];
    return NULL;
}

int rb_action_param_index(const rb_action_type *t, const char *key)
{
    for (size_t i = 0; i < t->nparams; i++)
        if (t->params[i].key[0] == key[0] && strcmp(t->params[i].key, key) == 0)
            return (int)i;
    return -1;
}

const rb_node *rb_action_param(const rb_action *a, const char *key)
{
    if (!a->type)
        return NULL;
    int i = rb_action_param_index(a->type, key);
    return i < 0 ? NULL : a->params[i];
}
