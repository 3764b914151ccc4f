/* Expressions and templates: parse errors with exact offsets, precedence, the unknown value,
 * type rules, every function, name access, templates and rendering, references, durations,
 * and quoting checked by running the quoted text through /bin/sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runbook/expr.h"

/* ---- fixture: the values a run would have ---- */

static const char *fixture_json =
    "{\"inputs\": {\"host\": \"db1\", \"tries\": 10, \"ratio\": 1.5, \"flag\": true,"
    "              \"empty\": \"\", \"list\": [1, 2, \"x\"], \"nul\": \"a\\u0000b\"},"
    " \"steps\": {\"read-dns\": {\"previous\": \"api.example.com\", \"outcome\": \"succeeded\"},"
    "            \"h\": {\"status\": 200, \"headers\": {\"content-type\": \"application/json\"},"
    "                   \"json\": {\"result\": {\"status\": \"ok\"}}},"
    "            \"q\": {\"rows\": [{\"lag\": 3}, {\"lag\": 7}], \"value\": \" 42\\n\","
    "                   \"row_count\": 2},"
    "            \"x\": {\"duration\": 45000, \"stdout\": \"hello world\", \"exit_code\": 0},"
    "            \"failed\": {\"outcome\": \"failed\", \"stdout\": null, \"json\": null}},"
    " \"env\": {\"HOME\": \"/root\"},"
    " \"secrets\": {\"pw\": \"hunter2'$(touch x)\"},"
    " \"run\": {\"id\": \"r1\", \"dry_run\": false}}";

static json_t *fixture;

static json_t *lookup(void *ctx, const char *root)
{
    (void)ctx;
    if (strcmp(root, "plan") == 0)
        return rb_unknown();
    return json_object_get(fixture, root);
}

static const rb_scope scope = {lookup, NULL, NULL};

static int setup(void **state)
{
    (void)state;
    json_error_t jerr;
    fixture = json_loads(fixture_json, JSON_ALLOW_NUL, &jerr);
    if (!fixture)
        return -1;
    /* a step whose outputs only the run can tell */
    json_object_set(json_object_get(fixture, "steps"), "u", rb_unknown());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixture);
    return 0;
}

/* ---- helpers ---- */

static json_t *eval_ok(const char *src)
{
    rb_expr_error err = {0};
    rb_expr *e = rb_expr_parse(src, strlen(src), &err);
    if (!e)
        fail_msg("parse '%s': %s at %zu", src, err.message, err.offset);
    json_t *v = rb_expr_eval(e, &scope, &err);
    rb_expr_free(e);
    if (!v)
        fail_msg("eval '%s': %s at %zu", src, err.message, err.offset);
    return v;
}

static void is_bool(const char *src, int want)
{
    json_t *v = eval_ok(src);
    if (!json_is_boolean(v) || json_is_true(v) != want)
        fail_msg("'%s' should be %s", src, want ? "true" : "false");
    json_decref(v);
}

static void is_unknown(const char *src)
{
    json_t *v = eval_ok(src);
    if (!rb_is_unknown(v))
        fail_msg("'%s' should be unknown", src);
    json_decref(v);
}

static void is_int(const char *src, long long want)
{
    json_t *v = eval_ok(src);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("'%s' should be the integer %lld", src, want);
    json_decref(v);
}

static void is_string(const char *src, const char *want)
{
    json_t *v = eval_ok(src);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("'%s' should be the string '%s', got '%s'", src, want,
                 json_is_string(v) ? json_string_value(v) : "(not a string)");
    json_decref(v);
}

static void is_null(const char *src)
{
    json_t *v = eval_ok(src);
    if (!json_is_null(v) || rb_is_unknown(v))
        fail_msg("'%s' should be null", src);
    json_decref(v);
}

static void parse_fails(const char *src, size_t offset, const char *msg)
{
    rb_expr_error err = {0};
    rb_expr *e = rb_expr_parse(src, strlen(src), &err);
    if (e) {
        rb_expr_free(e);
        fail_msg("'%s' should not parse", src);
    }
    if (err.offset != offset || !strstr(err.message, msg))
        fail_msg("'%s': got '%s' at %zu, want '%s' at %zu", src, err.message, err.offset, msg,
                 offset);
}

static void eval_fails(const char *src, size_t offset, const char *msg)
{
    rb_expr_error err = {0};
    rb_expr *e = rb_expr_parse(src, strlen(src), &err);
    if (!e)
        fail_msg("parse '%s': %s at %zu", src, err.message, err.offset);
    json_t *v = rb_expr_eval(e, &scope, &err);
    rb_expr_free(e);
    if (v) {
        json_decref(v);
        fail_msg("'%s' should fail to evaluate", src);
    }
    if (err.offset != offset || !strstr(err.message, msg))
        fail_msg("'%s': got '%s' at %zu, want '%s' at %zu", src, err.message, err.offset, msg,
                 offset);
    /* values can be secrets: no error message may show one */
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.message, "hello world"));
}

/* ---- literals ---- */

static void literals(void **state)
{
    (void)state;
    is_string("'single \\n stays'", "single \\n stays");
    is_string("\"tab\\there \\\"q\\\" back\\\\slash\\nnl\"", "tab\there \"q\" back\\slash\nnl");
    is_int("42", 42);
    is_int("-3", -3);
    is_int("-9223372036854775808", -9223372036854775807LL - 1);
    is_int("9223372036854775807", 9223372036854775807LL);
    is_int("90s", 90000);
    is_int("1h30m", 5400000);
    is_int("250ms", 250);
    is_int("2d", 172800000);
    is_int("1s500ms", 1500);
    is_bool("true", 1);
    is_bool("false", 0);
    is_null("null");
    json_t *v = eval_ok("-0.25");
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) == -0.25);
    json_decref(v);
}

/* ---- parse errors, each at its exact offset ---- */

static void parse_errors(void **state)
{
    (void)state;
    parse_fails("'abc", 0, "unterminated string");
    parse_fails("\"a\" == 'b", 7, "unterminated string");
    parse_fails("\"a\\q\"", 2, "unknown escape");
    parse_fails("foo(1)", 0, "unknown function 'foo'");
    parse_fails("inputs.flag && nope(1)", 15, "unknown function 'nope'");
    parse_fails("len(1, 2)", 0, "len() takes 1 argument, not 2");
    parse_fails("true || contains('x')", 8, "contains() takes 2 arguments, not 1");
    parse_fails("default()", 0, "takes 2 arguments, not 0");
    parse_fails("a b", 2, "unexpected name after the expression");
    parse_fails("a == 1 )", 7, "unexpected ')'");
    parse_fails("a ==", 4, "expected a value");
    parse_fails("&& a", 0, "expected a value");
    parse_fails("a &&", 4, "expected a value");
    parse_fails("!", 1, "expected a value");
    parse_fails("(a", 2, "expected ')'");
    parse_fails("len(1", 5, "expected ',' or ')'");
    parse_fails("a.b.", 4, "expected a field name");
    parse_fails("a[1", 3, "expected ']'");
    parse_fails("steps.q.rows[-1]", 13, "index (0 or more)");
    parse_fails("a == b == c", 7, "comparisons do not chain");
    parse_fails("a < b =~ 'c'", 6, "comparisons do not chain");
    parse_fails("a - b", 2, "no arithmetic");
    parse_fails("a = b", 2, "compare with ==");
    parse_fails("a & b", 2, "use &&");
    parse_fails("a @ b", 2, "unexpected character '@'");
    parse_fails("9223372036854775808", 0, "integer out of range");
    parse_fails("x == 1.5s", 5, "whole numbers");
    parse_fails("x == 90x", 5, "malformed number or duration");
    parse_fails("x == 30m1h", 5, "malformed number or duration");
    parse_fails("x == -5s", 5, "cannot be negative");
    parse_fails("", 0, "empty expression");
    parse_fails("   ", 3, "empty expression");
    parse_fails("${{ }}", 4, "empty expression");
    parse_fails("${{ a }} b", 8, "unexpected text after }}");
    parse_fails("${{ a ", 0, "unterminated ${{");
    parse_fails("  ${{ 'a }}", 6, "unterminated string");
}

static void regex_parse_errors(void **state)
{
    (void)state;
    parse_fails("x =~ y", 5, "regex in a string literal");
    /* offsets point at the offending character inside the literal */
    parse_fails("x =~ 'ab)'", 8, "unmatched closing parenthesis");
    parse_fails("'x' =~ '[z-a]'", 11, "range out of order");
    parse_fails("x !~ 'a(b'", 9, "missing closing parenthesis");
    /* through the escapes of a double-quoted literal: \t is two bytes of source, one of regex */
    parse_fails("x =~ \"\\t[z-a]\"", 11, "range out of order");
    parse_fails("x =~ \"\\\\\\\\)\"", 10, "unmatched closing parenthesis");
}

static void depth_bombs_are_errors(void **state)
{
    (void)state;
    size_t n = 100000;
    char *s = malloc(n + 2);
    /* 100,000 '(' is over the length limit before it is deep */
    memset(s, '(', n);
    strcpy(s + n, "x");
    parse_fails(s, RB_EXPR_MAX_LEN, "longer than");
    /* within the length limit, depth is what stops it */
    s[60000] = '\0';
    parse_fails(s, RB_EXPR_MAX_DEPTH, "nested too deeply");
    memset(s, '!', n);
    strcpy(s + n, "x");
    parse_fails(s, RB_EXPR_MAX_LEN, "longer than");
    s[60000] = '\0';
    parse_fails(s, RB_EXPR_MAX_DEPTH - 1, "nested too deeply");
    /* a long flat chain is not nesting: it parses and evaluates */
    size_t terms = 5000, len = 0; /* 40,000 bytes */
    char *chain = malloc(terms * 8);
    for (size_t i = 0; i < terms; i++)
        len += (size_t)sprintf(chain + len, i ? " && true" : "true");
    is_bool(chain, 1);
    free(chain);
    free(s);
    /* exactly at the limit is fine */
    char deep[2 * RB_EXPR_MAX_DEPTH + 2];
    memset(deep, '(', RB_EXPR_MAX_DEPTH - 1);
    deep[RB_EXPR_MAX_DEPTH - 1] = '1';
    memset(deep + RB_EXPR_MAX_DEPTH, ')', RB_EXPR_MAX_DEPTH - 1);
    deep[2 * RB_EXPR_MAX_DEPTH - 1] = '\0';
    is_int(deep, 1);
}

/* ---- operators ---- */

static void precedence(void **state)
{
    (void)state;
    is_bool("true || false && false", 1); /* && binds tighter */
    is_bool("(true || false) && false", 0);
    is_bool("false && true || true", 1);
    is_bool("!true == false", 1); /* ! binds tighter than == */
    is_bool("!(1 == 2)", 1);
    is_bool("!!inputs.tries", 1);
    is_bool("1 < 2 && 'b' > 'a' || false", 1);
    is_bool("inputs.tries == 10 && inputs.host == 'db1'", 1);
}

static void unknown_propagates_except_when_decided(void **state)
{
    (void)state;
    is_unknown("plan");
    is_unknown("plan.a.b[0]");
    is_unknown("steps.u.rows[0].lag");
    is_unknown("steps.u.outcome == 'succeeded'");
    is_unknown("1 == steps.u.x");
    is_unknown("steps.u.x < 3");
    is_unknown("!steps.u.ok");
    is_bool("steps.u.x && false", 0); /* Kleene: a deciding operand wins after an unknown */
    is_bool("steps.u.x || true", 1);
    is_unknown("steps.u.x && true");
    is_unknown("true && steps.u.x");
    is_unknown("false || steps.u.x");
    is_unknown("steps.u.stdout =~ 'ok'");
    is_unknown("len(steps.u.rows)");
    is_unknown("contains('abc', steps.u.x)");
    is_unknown("default(steps.u.x, 1)");
    is_bool("false && steps.u.x", 0);
    is_bool("true || steps.u.x", 1);
    /* short-circuit: the side that is not needed is not evaluated (nosuch would be an error) */
    is_bool("false && nosuch.x", 0);
    is_bool("true || nosuch", 1);
    is_bool("inputs.flag || nosuch", 1);
    eval_fails("true && nosuch.x", 8, "unknown name 'nosuch'");
    is_int("default(7, nosuch)", 7);
}

static void comparison_types(void **state)
{
    (void)state;
    is_bool("1 == 1.0", 1);
    is_bool("1 < 1.5", 1);
    is_bool("inputs.ratio > 1", 1);
    is_bool("2 >= 2", 1);
    is_bool("2 <= 1", 0);
    is_bool("'a' < 'b'", 1);
    is_bool("'ab' > 'a'", 1);
    is_bool("'B' < 'a'", 1); /* bytewise */
    is_bool("'10' == 10", 0); /* different types are unequal, not an error */
    is_bool("'10' != 10", 1);
    is_bool("true == 1", 0);
    is_bool("null == null", 1);
    is_bool("null == false", 0);
    is_bool("steps.failed.stdout == null", 1);
    is_bool("steps.h.headers == steps.h.headers", 1);
    is_bool("inputs.list == steps.q.rows", 0);
    is_bool("9223372036854775807 > 9223372036854775806", 1); /* exact for integers */
    eval_fails("1 < 'a'", 2, "cannot order integer and string");
    eval_fails("null < 1", 5, "cannot order null and integer");
    eval_fails("true > false", 5, "cannot order boolean and boolean");
    eval_fails("secrets.pw < 1", 11, "cannot order string and integer");
}

static void negative_numbers(void **state)
{
    (void)state;
    is_bool("-3 < 0", 1);
    is_bool("inputs.tries > -1", 1);
    is_bool("int('-7') == -7", 1);
    is_bool("-1.5 < -1", 1);
}

static void durations_in_expressions(void **state)
{
    (void)state;
    is_bool("steps.x.duration < 90s", 1);
    is_bool("steps.x.duration >= 45s", 1);
    is_bool("steps.x.duration > 1m", 0);
    is_bool("1h30m == 90m", 1);
    is_bool("duration('1m30s') == 90s", 1);
}

/* ---- names ---- */

static void member_and_index_access(void **state)
{
    (void)state;
    is_string("steps.h.headers[\"content-type\"]", "application/json");
    is_string("steps.h.headers['content-type']", "application/json");
    is_string("steps.h.headers.content-type", "application/json");
    is_int("steps.q.rows[0].lag", 3);
    is_int("steps.q.rows[1][\"lag\"]", 7);
    is_string("steps.h.json.result.status", "ok");
    is_string("steps[\"read-dns\"].previous", "api.example.com");
    is_string("inputs.list[2]", "x");
    is_null("steps.q.rows[5].lag"); /* missing index */
    is_null("steps.h.json.nope");   /* missing key */
    is_null("steps.failed.json.result.status"); /* below a null is null */
    is_int("steps.h.status", 200);
    eval_fails("steps.x.stdout.foo", 14, "cannot read field 'foo': the value is of type string");
    eval_fails("steps.h.headers[0]", 15, "cannot index: the value is of type object");
    eval_fails("nosuch.x", 0, "unknown name 'nosuch'");
    eval_fails("secrets.pw.x", 10, "of type string");
}

static void hyphenated_names(void **state)
{
    (void)state;
    is_string("steps.read-dns.previous", "api.example.com");
    is_bool("steps.read-dns.previous == 'api.example.com'", 1);
    is_bool("steps.read-dns.outcome=='succeeded'", 1);
}

/* ---- functions ---- */

static void function_table(void **state)
{
    (void)state;
    assert_int_equal(rb_expr_function_known("contains", 2), 1);
    assert_int_equal(rb_expr_function_known("contains", 1), -1);
    assert_int_equal(rb_expr_function_known("sql_ident", 1), 1);
    assert_int_equal(rb_expr_function_known("default", 2), 1);
    assert_int_equal(rb_expr_function_known("eval", 1), 0);
}

static void string_functions(void **state)
{
    (void)state;
    is_bool("contains(steps.x.stdout, 'lo wo')", 1);
    is_bool("contains(steps.x.stdout, 'bye')", 0);
    is_bool("contains('abc', '')", 1);
    is_bool("contains(inputs.list, 'x')", 1);
    is_bool("contains(inputs.list, 2.0)", 1);
    is_bool("contains(inputs.list, '2')", 0);
    eval_fails("contains(1, 'x')", 0, "contains() expects a string or an array, not integer");
    eval_fails("contains('x', 1)", 0, "contains() expects a string, not integer");
    is_bool("starts_with(steps.x.stdout, 'hello')", 1);
    is_bool("starts_with('he', 'hello')", 0);
    is_bool("ends_with(steps.x.stdout, 'world')", 1);
    is_bool("ends_with('d', 'world')", 0);
    eval_fails("starts_with(null, 'a')", 0, "starts_with() expects a string, not null");
    is_string("lower('MiXeD \xc3\x89')", "mixed \xc3\x89");
    is_string("upper('MiXeD')", "MIXED");
    is_string("trim(steps.q.value)", "42");
    is_string("trim('   ')", "");
    eval_fails("upper(1)", 0, "upper() expects a string, not integer");
}

static void len_and_conversions(void **state)
{
    (void)state;
    is_int("len('h\xc3\xa9')", 3); /* bytes */
    is_int("len(inputs.list)", 3);
    is_int("len(steps.h.headers)", 1);
    eval_fails("len(42)", 0, "len() expects a string, an array or an object, not integer");
    is_int("int(steps.q.value)", 42);
    is_int("int('-7')", -7);
    is_int("int(3.9)", 3);
    is_int("int(-3.9)", -3);
    is_int("int(true)", 1);
    is_int("int(inputs.tries)", 10);
    eval_fails("int('4x')", 0, "not an integer");
    eval_fails("int('')", 0, "not an integer");
    eval_fails("int('99999999999999999999')", 0, "out of range");
    eval_fails("int(null)", 0, "int() expects");
    eval_fails("int(secrets.pw)", 0, "not an integer");
    is_string("string(42)", "42");
    is_string("string(1.5)", "1.5");
    is_string("string(0.1)", "0.1");
    is_string("string(true)", "true");
    is_string("string(null)", "");
    is_string("string(inputs.list)", "[1,2,\"x\"]");
    is_string("string(steps.h.headers)", "{\"content-type\":\"application/json\"}");
    is_int("duration('90s')", 90000);
    is_int("duration('1h30m')", 5400000);
    is_int("duration(steps.x.duration)", 45000);
    eval_fails("duration('90')", 0, "not a duration");
    eval_fails("duration(true)", 0, "duration() expects a string");
}

static void default_function(void **state)
{
    (void)state;
    is_int("default(null, 1)", 1);
    is_int("default(2, 1)", 2);
    is_string("default(steps.failed.stdout, 'none')", "none");
    is_string("default(steps.x.stdout, 'none')", "hello world");
    is_bool("default(false, true)", 0); /* only null is replaced */
}

static void sql_functions(void **state)
{
    (void)state;
    is_string("sql_literal('abc')", "'abc'");
    is_string("sql_literal(\"it's\")", "'it''s'");
    is_string("sql_literal('a\\b')", "E'a\\\\b'");
    is_string("sql_literal(\"O'Re\\\\illy\")", "E'O''Re\\\\illy'");
    is_string("sql_literal(\"x'; DROP TABLE t; --\")", "'x''; DROP TABLE t; --'");
    is_string("sql_literal(42)", "'42'");
    is_string("sql_literal('')", "''");
    is_string("sql_ident('users')", "\"users\"");
    is_string("sql_ident('my \"tbl\"')", "\"my \"\"tbl\"\"\"");
    is_string("sql_ident('a\\b')", "\"a\\b\""); /* backslashes mean nothing in identifiers */
    eval_fails("sql_literal(inputs.nul)", 0, "NUL byte");
    eval_fails("sql_ident(inputs.nul)", 0, "NUL byte");
    eval_fails("sql_literal(null)", 0, "sql_literal() expects");
    eval_fails("sql_ident(inputs.list)", 0, "sql_ident() expects");
}

static char *fake_escape(void *ctx, const char *s, size_t len, int ident)
{
    int *calls = ctx;
    (*calls)++;
    char *out = malloc(len + 8);
    sprintf(out, "%s<%.*s>", ident ? "I" : "L", (int)len, s);
    return out;
}

static char *failing_escape(void *ctx, const char *s, size_t len, int ident)
{
    (void)ctx, (void)s, (void)len, (void)ident;
    return NULL;
}

static json_t *eval_in(const char *src, const rb_scope *sc, rb_expr_error *err)
{
    rb_expr *e = rb_expr_parse(src, strlen(src), err);
    assert_non_null(e);
    json_t *v = rb_expr_eval(e, sc, err);
    rb_expr_free(e);
    return v;
}

static void sql_functions_use_the_connection_escaping(void **state)
{
    (void)state;
    int calls = 0;
    rb_scope sc = {lookup, &calls, fake_escape};
    rb_expr_error err;
    json_t *v = eval_in("sql_literal(inputs.host) == 'L<db1>' && sql_ident('t') == 'I<t>'", &sc,
                        &err);
    assert_non_null(v);
    assert_true(json_is_true(v));
    assert_int_equal(calls, 2);
    json_decref(v);
    sc.sql_escape = failing_escape;
    assert_null(eval_in("sql_literal('x')", &sc, &err));
    assert_non_null(strstr(err.message, "could not be quoted"));
}

static void regex_operators(void **state)
{
    (void)state;
    is_bool("steps.x.stdout =~ '^hello'", 1);
    is_bool("steps.x.stdout !~ '^hello'", 0);
    is_bool("steps.x.stdout =~ 'WORLD'", 0);
    is_bool("steps.x.stdout =~ '(?i)WORLD'", 1);
    is_bool("steps.q.row_count =~ '^2$'", 1); /* a number is matched as its text */
    is_bool("steps.q.value =~ '^\\s*\\d+\\s*$'", 1);
    is_bool("steps.failed.stdout =~ '^$'", 1); /* null is the empty text */
    is_bool("'a' =~ 'b' || 'c' =~ 'c'", 1);
    /* a hostile pattern gives an error, not a hang */
    eval_fails("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '(a+)+$'", 44, "regex match failed");
}

/* ---- truthiness and the unknown singleton ---- */

static void truthiness(void **state)
{
    (void)state;
    const char *falsy[] = {"false", "null", "0", "0.0", "\"\"", "[]", "{}"};
    const char *truthy[] = {"true", "1", "-1", "0.5", "\"0\"", "[0]", "{\"a\":null}"};
    for (size_t i = 0; i < 7; i++) {
        json_t *f = json_loads(falsy[i], JSON_DECODE_ANY, NULL);
        json_t *t = json_loads(truthy[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(rb_value_truthy(f), 0);
        assert_int_equal(rb_value_truthy(t), 1);
        json_decref(f);
        json_decref(t);
    }
    assert_int_equal(rb_value_truthy(rb_unknown()), -1);
}

static void unknown_is_a_singleton_that_survives_decref(void **state)
{
    (void)state;
    json_t *u = rb_unknown();
    assert_ptr_equal(u, rb_unknown());
    assert_true(rb_is_unknown(u));
    assert_false(rb_is_unknown(json_null()));
    for (int i = 0; i < 1000; i++)
        json_decref(json_incref(u));
    for (int i = 0; i < 10; i++)
        json_decref(u); /* callers decref results uniformly: must not free it */
    json_t *arr = json_array();
    json_array_append(arr, u);
    json_decref(arr);
    assert_true(rb_is_unknown(rb_unknown()));
    assert_int_equal(rb_value_truthy(u), -1);
    is_unknown("plan"); /* still usable after all that */
}

/* ---- templates ---- */

static rb_template *template_ok(const char *src)
{
    rb_expr_error err = {0};
    rb_template *t = rb_template_parse(src, strlen(src), &err);
    if (!t)
        fail_msg("template '%s': %s at %zu", src, err.message, err.offset);
    return t;
}

static char *render(const char *src, char *(*quote)(const char *, size_t))
{
    rb_template *t = template_ok(src);
    rb_expr_error err = {0};
    int unknown = 7;
    char *out = rb_template_render(t, &scope, quote, &unknown, &err);
    rb_template_free(t);
    if (!out)
        fail_msg("render '%s': %s at %zu", src, err.message, err.offset);
    assert_int_equal(unknown, 0);
    return out;
}

static void template_renders(const char *src, const char *want)
{
    char *out = render(src, NULL);
    if (strcmp(out, want) != 0)
        fail_msg("'%s' rendered '%s', want '%s'", src, out, want);
    free(out);
}

static void template_fails(const char *src, size_t offset, const char *msg)
{
    rb_expr_error err = {0};
    rb_template *t = rb_template_parse(src, strlen(src), &err);
    if (t) {
        rb_template_free(t);
        fail_msg("template '%s' should not parse", src);
    }
    if (err.offset != offset || !strstr(err.message, msg))
        fail_msg("'%s': got '%s' at %zu, want '%s' at %zu", src, err.message, err.offset, msg,
                 offset);
}

static void template_parts_and_offsets(void **state)
{
    (void)state;
    rb_template *t = template_ok("Host ${{ inputs.host }} tries ${{inputs.tries}}!");
    size_t off = 0;
    assert_int_equal(rb_template_parts(t), 2);
    assert_false(rb_template_is_literal(t));
    assert_null(rb_template_single(t));
    assert_non_null(rb_template_part(t, 0, &off));
    assert_int_equal(off, 5);
    assert_non_null(rb_template_part(t, 1, &off));
    assert_int_equal(off, 30);
    assert_null(rb_template_part(t, 2, &off));
    rb_template_free(t);

    t = template_ok("plain text, $ and {{ }} and $x");
    assert_true(rb_template_is_literal(t));
    assert_int_equal(rb_template_parts(t), 0);
    rb_template_free(t);

    t = template_ok("");
    assert_true(rb_template_is_literal(t));
    rb_template_free(t);
}

static void template_single_keeps_type(void **state)
{
    (void)state;
    rb_template *t = template_ok("${{ inputs.tries }}");
    const rb_expr *e = rb_template_single(t);
    assert_non_null(e);
    rb_expr_error err;
    json_t *v = rb_expr_eval(e, &scope, &err);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 10);
    json_decref(v);
    rb_template_free(t);
    /* whitespace outside the braces makes it text */
    t = template_ok(" ${{ inputs.tries }}");
    assert_null(rb_template_single(t));
    rb_template_free(t);
    t = template_ok("${{ 1 }}${{ 2 }}");
    assert_null(rb_template_single(t));
    rb_template_free(t);
}

static void template_rendering(void **state)
{
    (void)state;
    template_renders("postgresql://ops@${{ inputs.host }}/app", "postgresql://ops@db1/app");
    template_renders("${{ inputs.tries }} x ${{ inputs.ratio }}", "10 x 1.5");
    template_renders("[${{ null }}] ${{ true }} ${{ inputs.list }}", "[] true [1,2,\"x\"]");
    template_renders("${{ '}}' }}", "}}");
    template_renders("${{ \"a\\\"}}\" }}", "a\"}}");
    template_renders("cost: $5 ${{ 1 }}$", "cost: $5 1$");
    template_renders("$${{ not parsed }} and ${{ 2 }}", "${{ not parsed }} and 2");
    template_renders("$$${{ 1 }}", "$${{ 1 }}");
    template_renders("${{ steps.h.headers['content-type'] }}", "application/json");
    rb_template *t = template_ok("a $${{ x }} b");
    assert_true(rb_template_is_literal(t));
    rb_template_free(t);
}

static void template_errors(void **state)
{
    (void)state;
    template_fails("abc ${{ inputs.host", 4, "unterminated ${{");
    template_fails("abc ${{ 'x }}", 8, "unterminated string");
    template_fails("ok ${{ 1 }} then ${{ nope(1) }}", 21, "unknown function");
    template_fails("a ${{ }} b", 6, "empty expression");
    template_fails("${{ a b }}", 6, "unexpected name");

    rb_template *t = template_ok("x ${{ steps.x.stdout.y }}");
    rb_expr_error err;
    int unknown;
    assert_null(rb_template_render(t, &scope, NULL, &unknown, &err));
    assert_int_equal(err.offset, 20);
    assert_null(strstr(err.message, "hello"));
    rb_template_free(t);
}

static void template_unknown(void **state)
{
    (void)state;
    rb_template *t = template_ok("a ${{ inputs.host }} ${{ steps.u.previous }}");
    rb_expr_error err = {0};
    int unknown = 0;
    assert_null(rb_template_render(t, &scope, NULL, &unknown, &err));
    assert_int_equal(unknown, 1);
    /* without a place to say "unknown", it is an error at the unknown part */
    assert_null(rb_template_render(t, &scope, NULL, NULL, &err));
    assert_int_equal(err.offset, 21);
    rb_template_free(t);
    /* an error in a later part wins over an earlier unknown */
    t = template_ok("${{ plan }} ${{ nosuch }}");
    unknown = 0;
    assert_null(rb_template_render(t, &scope, NULL, &unknown, &err));
    assert_int_equal(unknown, 0);
    assert_non_null(strstr(err.message, "unknown name"));
    rb_template_free(t);
}

static void templates_report_refs_against_their_source(void **state);

/* ---- shell quoting, checked by the shell itself ---- */

/* Runs /bin/sh -c script in a fresh empty directory; returns its stdout and whether the
 * directory is still empty afterwards (no command injected by the script created a file). */
static char *run_sh(const char *script, int *dir_empty)
{
    char dir[] = "/tmp/rb-quote-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (chdir(dir) != 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fd[0], out + len, cap - len - 1)) > 0)
        if ((len += (size_t)n) + 1 == cap)
            out = realloc(out, cap *= 2);
    out[len] = '\0';
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char probe[64];
    snprintf(probe, sizeof probe, "%s/x", dir);
    *dir_empty = access(probe, F_OK) != 0;
    unlink(probe);
    rmdir(dir);
    return out;
}

static void shell_word_round_trips(const char *value)
{
    char *q = rb_shell_quote(value, strlen(value));
    assert_non_null(q);
    char *script = malloc(strlen(q) + 16);
    sprintf(script, "printf %%s %s", q);
    int clean;
    char *out = run_sh(script, &clean);
    if (strcmp(out, value) != 0)
        fail_msg("quoted as %s, the shell printed '%s'", q, out);
    assert_true(clean);
    free(out);
    free(script);
    free(q);
}

static void shell_quote(void **state)
{
    (void)state;
    char *q = rb_shell_quote("", 0);
    assert_string_equal(q, "''");
    free(q);
    q = rb_shell_quote("it's", 4);
    assert_string_equal(q, "'it'\\''s'");
    free(q);
    assert_null(rb_shell_quote("a\0b", 3));
    const char *canaries[] = {
        "$(touch x)", "`touch x`", "a; touch x", "a && touch x", "a | touch x",
        "line1\ntouch x\n", "-n", "--help", "it's", "''", "'", "\\", "\\'", "$HOME",
        "${HOME}", "*", "a b  c", "!", "~", "\"$(touch x)\"", "'$(touch x)'", "\t", "%s%d",
        "x'\"'\"'$(touch x)", "",
    };
    for (size_t i = 0; i < sizeof canaries / sizeof canaries[0]; i++)
        shell_word_round_trips(canaries[i]);
}

static void render_with_shell_quoting(void **state)
{
    (void)state;
    char *script = render("printf %s ${{ secrets.pw }}-${{ inputs.empty }}", rb_shell_quote);
    assert_string_equal(script, "printf %s 'hunter2'\\''$(touch x)'-''");
    int clean;
    char *out = run_sh(script, &clean);
    assert_string_equal(out, "hunter2'$(touch x)-");
    assert_true(clean);
    free(out);
    free(script);
    /* a value with a NUL byte cannot become a shell word */
    rb_template *t = template_ok("echo ${{ inputs.nul }}");
    rb_expr_error err;
    int unknown;
    assert_null(rb_template_render(t, &scope, rb_shell_quote, &unknown, &err));
    assert_int_equal(err.offset, 5);
    rb_template_free(t);
}

/* ---- references and calls ---- */

typedef struct seen {
    char text[1024];
} seen;

static void collect_ref(const rb_ref *r, void *ctx)
{
    seen *s = ctx;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s/%s/%s@%zu ", r->root,
             r->name ? r->name : "-", r->field ? r->field : "-", r->offset);
}

static void collect_call(const char *name, size_t nargs, size_t offset, void *ctx)
{
    seen *s = ctx;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s/%zu@%zu ", name, nargs, offset);
}

static void refs_are(const char *src, const char *want)
{
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(src, strlen(src), &err);
    assert_non_null(e);
    seen s = {""};
    rb_expr_refs(e, collect_ref, &s);
    rb_expr_free(e);
    if (strcmp(s.text, want) != 0)
        fail_msg("refs of '%s': '%s', want '%s'", src, s.text, want);
}

static void refs_listing(void **state)
{
    (void)state;
    refs_are("steps.read-dns.previous == inputs.host && len(steps.q.rows[0].lag) > 0 || env.HOME",
             "steps/read-dns/previous@0 inputs/host/-@27 steps/q/rows@46 env/HOME/-@74 ");
    refs_are("run.id", "run/id/-@0 ");
    refs_are("inputs", "inputs/-/-@0 ");
    refs_are("steps[\"h\"]['headers'].x", "steps/h/headers@0 ");
    refs_are("steps.q[0].x", "steps/q/-@0 "); /* an index is neither a name nor a field */
    refs_are("inputs[0].x", "inputs/-/x@0 ");
    refs_are("!default(secrets.a, 'x') =~ 'y'", "secrets/a/-@9 ");
    refs_are("1 == 'steps.x'", "");
    refs_are("  ${{ steps.a.b }}", "steps/a/b@6 ");
}

static void calls_listing(void **state)
{
    (void)state;
    const char *src = "len(contains(inputs.list, 'b')) > 0 && trim( 'x' ) == ''";
    rb_expr_error err;
    rb_expr *e = rb_expr_parse(src, strlen(src), &err);
    assert_non_null(e);
    seen s = {""};
    rb_expr_calls(e, collect_call, &s);
    assert_string_equal(s.text, "len/1@0 contains/2@4 trim/1@39 ");
    rb_expr_free(e);
}

static void templates_report_refs_against_their_source(void **state)
{
    (void)state;
    rb_template *t = template_ok("DATABASE_URL=postgresql://ops:${{ secrets.db_password }}@"
                                 "${{ inputs.standby_host }}/app");
    seen s = {""};
    size_t off;
    for (size_t i = 0; i < rb_template_parts(t); i++)
        rb_expr_refs(rb_template_part(t, i, &off), collect_ref, &s);
    assert_string_equal(s.text, "secrets/db_password/-@34 inputs/standby_host/-@61 ");
    rb_template_free(t);
}

/* ---- durations ---- */

static void duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long long ms;
    } good[] = {
        {"250ms", 250}, {"90s", 90000}, {"5m", 300000}, {"1h30m", 5400000}, {"0s", 0},
        {"2d", 172800000}, {"1s500ms", 1500}, {"2m30s", 150000}, {"1d2h3m4s5ms", 93784005},
        {"0ms", 0}, {"007s", 7000}, {"106751991167d", 106751991167LL * 86400000LL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long long ms = -1;
        if (rb_duration_parse(good[i].s, strlen(good[i].s), &ms) != 0 || ms != good[i].ms)
            fail_msg("'%s' should be %lld ms, got %lld", good[i].s, good[i].ms, ms);
    }
    static const char *const bad[] = {
        "", "90", "30m1h", "1h1h", "1m1m", "1.5s", "-5s", " 5s", "5s ", "5x", "ms", "s", "1m5",
        "9999999999999999999s", "200000000000d", "106751991168d", "5S", "1h 30m", "1ms1s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long ms = 0;
        if (rb_duration_parse(bad[i], strlen(bad[i]), &ms) != -1)
            fail_msg("'%s' should be refused", bad[i]);
    }
    /* the length is honoured: "90s" cut to "90" is a bare number */
    long long ms;
    assert_int_equal(rb_duration_parse("90s", 2, &ms), -1);
    assert_int_equal(rb_duration_parse(NULL, 0, &ms), -1);
}

static void duration_format(void **state)
{
    (void)state;
    static const struct {
        long long ms;
        const char *s;
    } cases[] = {
        {0, "0s"}, {250, "250ms"}, {1000, "1s"}, {90000, "1m30s"}, {5400000, "1h30m"},
        {86400000, "1d"}, {1500, "1s500ms"}, {93784005, "1d2h3m4s5ms"}, {-1500, "-1s500ms"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rb_duration_format(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].s);
        long long back;
        if (cases[i].ms >= 0) {
            assert_int_equal(rb_duration_parse(buf, strlen(buf), &back), 0);
            assert_int_equal(back, cases[i].ms);
        }
    }
    /* extremes format without overflow, and a short buffer is truncated, not overrun */
    rb_duration_format(-9223372036854775807LL - 1, buf, sizeof buf);
    assert_string_equal(buf, "-106751991167d7h12m55s808ms");
    char small[6];
    memset(small, 'Z', sizeof small);
    rb_duration_format(93784005, small, 5);
    assert_string_equal(small, "1d2h");
    assert_int_equal(small[5], 'Z');
}

/* [expr] computes a key or an index when evaluated, and its names are references too. */
static void computed_index(void **state)
{
    (void)state;
    is_int("steps.q.rows[inputs.list[0]].lag", 7);
    is_string("steps['read-dns'][\"previous\"]", "api.example.com");
    is_unknown("inputs.list[steps.u.i]");
    eval_fails("inputs.list[inputs.ratio]", 11, "must be a string or an integer");
    refs_are("steps.q.rows[inputs.tries]", "steps/q/rows@0 inputs/tries/-@13 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literals),
        cmocka_unit_test(computed_index),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(regex_parse_errors),
        cmocka_unit_test(depth_bombs_are_errors),
        cmocka_unit_test(precedence),
        cmocka_unit_test(unknown_propagates_except_when_decided),
        cmocka_unit_test(comparison_types),
        cmocka_unit_test(negative_numbers),
        cmocka_unit_test(durations_in_expressions),
        cmocka_unit_test(member_and_index_access),
        cmocka_unit_test(hyphenated_names),
        cmocka_unit_test(function_table),
        cmocka_unit_test(string_functions),
        cmocka_unit_test(len_and_conversions),
        cmocka_unit_test(default_function),
        cmocka_unit_test(sql_functions),
        cmocka_unit_test(sql_functions_use_the_connection_escaping),
        cmocka_unit_test(regex_operators),
        cmocka_unit_test(truthiness),
        cmocka_unit_test(unknown_is_a_singleton_that_survives_decref),
        cmocka_unit_test(template_parts_and_offsets),
        cmocka_unit_test(template_single_keeps_type),
        cmocka_unit_test(template_rendering),
        cmocka_unit_test(template_errors),
        cmocka_unit_test(template_unknown),
        cmocka_unit_test(shell_quote),
        cmocka_unit_test(render_with_shell_quoting),
        cmocka_unit_test(refs_listing),
        cmocka_unit_test(calls_listing),
        cmocka_unit_test(templates_report_refs_against_their_source),
        cmocka_unit_test(duration_parse),
        cmocka_unit_test(duration_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
