/* Recursive-descent parser for expressions, one function per grammar rule (as Lua's lparser.c).
 *
 *   expr     ::= and_expr { '||' and_expr }
 *   and_expr ::= compare { '&&' compare }
 *   compare  ::= unary [ cmp_op unary | ( '=~' | '!~' ) STRING ]      (no chaining)
 *   cmp_op   ::= '==' | '!=' | '<' | '<=' | '>' | '>='
 *   unary    ::= '!' unary | primary
 *   primary  ::= literal | call | name | '(' expr ')'
 *   literal  ::= STRING | INT | DECIMAL | DURATION | 'true' | 'false' | 'null'
 *   call     ::= IDENT '(' [ expr { ',' expr } ] ')'
 *   name     ::= IDENT { '.' word | '[' ( STRING | INT | expr ) ']' }
 *   word     ::= IDENT | 'true' | 'false' | 'null'
 *
 * Nesting (each expr and each '!') is counted against RB_EXPR_MAX_DEPTH, so hostile input gets
 * an error instead of a stack overflow; && and || chains are flat lists for the same reason. */
#include <stdlib.h>
#include <string.h>

#include "expr/ast.h"
#include "expr/builtins.h"
#include "expr/error.h"
#include "expr/lexer.h"
#include "expr/parser.h"

typedef struct parser {
    lexer lx;
    rb_expr_error *err;
    int depth;
    rb_arena *arena; /* the expression's: nodes, lists and names */
} parser;

static node *parse_expr(parser *p);
static node *parse_unary(parser *p);

#define TOK (p->lx.tok)

static int advance(parser *p)
{
    return expr_lex_next(&p->lx, p->err);
}

static node *fail_expected(parser *p, const char *what)
{
    expr_fail(p->err, TOK.start, "expected %s, found %s", what, expr_lex_token_name(TOK.kind));
    return NULL;
}

static node *oom(parser *p)
{
    expr_fail(p->err, TOK.start, "out of memory");
    return NULL;
}

/* Releases up to two partial trees on an error path (their memory goes with the arena). */
static node *discard(node *a, node *b)
{
    expr_node_release(a);
    expr_node_release(b);
    return NULL;
}

static int enter(parser *p)
{
    if (++p->depth <= RB_EXPR_MAX_DEPTH)
        return 0;
    expr_fail(p->err, TOK.start, "expression nested too deeply (more than %d levels)",
              RB_EXPR_MAX_DEPTH);
    return -1;
}

/* literal ::= STRING | INT | DECIMAL | DURATION | 'true' | 'false' | 'null' */
static node *parse_literal(parser *p)
{
    json_t *v = NULL;
    switch (TOK.kind) {
    case TK_STRING: v = json_stringn(p->lx.str, p->lx.str_len); break;
    case TK_INT:
    case TK_DURATION: v = json_integer(TOK.ival); break;
    case TK_REAL: v = json_real(TOK.rval); break;
    case TK_TRUE: v = json_true(); break;
    case TK_FALSE: v = json_false(); break;
    default: v = json_null(); break;
    }
    if (!v) {
        expr_fail(p->err, TOK.start, "string is not valid UTF-8");
        return NULL;
    }
    node *n = expr_node_new(p->arena, ND_LITERAL, TOK.start);
    if (!n) {
        json_decref(v);
        return oom(p);
    }
    n->u.literal = v;
    return advance(p) < 0 ? discard(n, NULL) : n;
}

/* Capacity doubles at powers of two, as expr_node_push does. */
static int push_access(parser *p, node *n, const access *a)
{
    size_t k = n->u.name.n;
    if (k == 0 || (k & (k - 1)) == 0) {
        access *grown = rb_arena_alloc(p->arena, (k ? 2 * k : 2) * sizeof *grown);
        if (!grown)
            return -1;
        if (k)
            memcpy(grown, n->u.name.path, k * sizeof *grown);
        n->u.name.path = grown;
    }
    n->u.name.path[n->u.name.n++] = *a;
    return 0;
}

/* The current token's text: a word straight from the source, a string as decoded. */
static char *copy_text(parser *p, size_t *len)
{
    int word = TOK.kind == TK_IDENT || TOK.kind == TK_TRUE || TOK.kind == TK_FALSE || TOK.kind == TK_NULL;
    const char *from = word ? p->lx.src + TOK.start : p->lx.str;
    size_t n = word ? TOK.end - TOK.start : p->lx.str_len;
    char *s = rb_arena_strndup(p->arena, from, n);
    if (s)
        *len = n;
    return s;
}

/* '.' word */
static int parse_field(parser *p, access *a)
{
    if (advance(p) < 0)
        return -1;
    if (TOK.kind != TK_IDENT && TOK.kind != TK_TRUE && TOK.kind != TK_FALSE &&
        TOK.kind != TK_NULL)
        return fail_expected(p, "a field name after '.'"), -1;
    if (!(a->key = copy_text(p, &a->key_len)))
        return oom(p), -1;
    return 0;
}

/* '[' ( STRING | INT | expr ) ']'   (an expr computes a key or an index when evaluated) */
static int parse_index(parser *p, access *a)
{
    if (advance(p) < 0)
        return -1;
    if (TOK.kind == TK_STRING) {
        if (!(a->key = copy_text(p, &a->key_len)))
            return oom(p), -1;
    } else if (TOK.kind == TK_INT && TOK.ival >= 0) {
        a->index = TOK.ival;
    } else if (TOK.kind == TK_INT) {
        return fail_expected(p, "an index (0 or more) inside [ ]"), -1;
    } else {
        if (!(a->expr = parse_expr(p)))
            return -1;
        if (TOK.kind != TK_RBRACKET)
            return fail_expected(p, "']'"), -1;
        return 0;
    }
    if (advance(p) < 0)
        return -1;
    if (TOK.kind != TK_RBRACKET)
        return fail_expected(p, "']'"), -1;
    return 0;
}

/* name ::= IDENT { '.' word | '[' ( STRING | INT | expr ) ']' }   (the IDENT is already read) */
static node *parse_name(parser *p, node *n)
{
    while (TOK.kind == TK_DOT || TOK.kind == TK_LBRACKET) {
        access a = {NULL, 0, 0, TOK.start, NULL};
        int rc = TOK.kind == TK_DOT ? parse_field(p, &a) : parse_index(p, &a);
        if (rc < 0 || push_access(p, n, &a) < 0) {
            expr_node_release(a.expr);
            return rc < 0 ? discard(n, NULL) : discard(n, oom(p));
        }
        if (advance(p) < 0)
            return discard(n, NULL);
    }
    return n;
}

static node *check_arity(parser *p, node *n)
{
    const expr_builtin *fn = n->u.call.fn;
    if (n->u.call.n == fn->nargs)
        return n;
    expr_fail(p->err, n->offset, "%s() takes %zu argument%s, not %zu", fn->name, fn->nargs,
              fn->nargs == 1 ? "" : "s", n->u.call.n);
    return discard(n, NULL);
}

/* call ::= IDENT '(' [ expr { ',' expr } ] ')'   (the IDENT is already read, TOK is '(') */
static node *parse_call(parser *p, node *n)
{
    if (advance(p) < 0)
        return discard(n, NULL);
    while (TOK.kind != TK_RPAREN) {
        node *arg = parse_expr(p);
        if (!arg)
            return discard(n, NULL);
        if (expr_node_push(p->arena, &n->u.call.args, &n->u.call.n, arg) < 0)
            return discard(n, discard(arg, oom(p)));
        if (TOK.kind != TK_COMMA)
            break;
        if (advance(p) < 0)
            return discard(n, NULL);
    }
    if (TOK.kind != TK_RPAREN)
        return discard(n, fail_expected(p, "',' or ')' in the arguments"));
    if (advance(p) < 0)
        return discard(n, NULL);
    return check_arity(p, n);
}

/* An identifier starts a call when '(' follows it, else a name. */
static node *parse_name_or_call(parser *p)
{
    size_t at = TOK.start, len;
    char *id = copy_text(p, &len);
    if (!id)
        return oom(p);
    if (advance(p) < 0)
        return NULL;
    node *n = expr_node_new(p->arena, TOK.kind == TK_LPAREN ? ND_CALL : ND_NAME, at);
    if (!n)
        return oom(p);
    if (n->kind == ND_NAME) {
        n->u.name.root = id;
        return parse_name(p, n);
    }
    n->u.call.fn = expr_builtin_find(id);
    if (!n->u.call.fn)
        expr_fail(p->err, at, "unknown function '%.60s'", id);
    return n->u.call.fn ? parse_call(p, n) : discard(n, NULL);
}

/* '(' expr ')' */
static node *parse_group(parser *p)
{
    if (advance(p) < 0)
        return NULL;
    node *inner = parse_expr(p);
    if (!inner)
        return NULL;
    if (TOK.kind != TK_RPAREN)
        return discard(inner, fail_expected(p, "')'"));
    return advance(p) < 0 ? discard(inner, NULL) : inner;
}

/* primary ::= literal | call | name | '(' expr ')' */
static node *parse_primary(parser *p)
{
    switch (TOK.kind) {
    case TK_LPAREN: return parse_group(p);
    case TK_IDENT: return parse_name_or_call(p);
    case TK_STRING:
    case TK_INT:
    case TK_REAL:
    case TK_DURATION:
    case TK_TRUE:
    case TK_FALSE:
    case TK_NULL: return parse_literal(p);
    default: return fail_expected(p, "a value");
    }
}

/* unary ::= '!' unary | primary */
static node *parse_unary(parser *p)
{
    if (TOK.kind != TK_NOT)
        return parse_primary(p);
    node *n = expr_node_new(p->arena, ND_NOT, TOK.start);
    if (!n)
        return oom(p);
    if (enter(p) < 0 || advance(p) < 0)
        return discard(n, NULL);
    n->u.operand = parse_unary(p);
    p->depth--;
    return n->u.operand ? n : discard(n, NULL);
}

static int compare_op_of(token_kind k)
{
    switch (k) {
    case TK_EQ: return CMP_EQ;
    case TK_NE: return CMP_NE;
    case TK_LT: return CMP_LT;
    case TK_LE: return CMP_LE;
    case TK_GT: return CMP_GT;
    case TK_GE: return CMP_GE;
    default: return -1;
    }
}

static int is_compare(token_kind k)
{
    return compare_op_of(k) >= 0 || k == TK_MATCH || k == TK_NOMATCH;
}

/* Compiles the regex of the current string token; errors point inside the literal. */
static rb_regex *compile_regex(parser *p)
{
    char msg[120];
    size_t off = 0;
    rb_regex *re = rb_regex_compile(p->lx.str, p->lx.str_len, &off, msg, sizeof msg);
    if (!re)
        expr_fail(p->err, expr_lex_string_source_offset(p->lx.src, TOK.start, off),
                  "invalid regex: %s", msg);
    return re;
}

/* ( '=~' | '!~' ) STRING   (the left side is parsed, TOK is the operator) */
static node *parse_match(parser *p, node *left)
{
    node *n = expr_node_new(p->arena, ND_MATCH, TOK.start);
    if (!n)
        return discard(left, oom(p));
    n->u.match.negate = TOK.kind == TK_NOMATCH;
    n->u.match.subject = left;
    if (advance(p) < 0)
        return discard(n, NULL);
    if (TOK.kind != TK_STRING)
        return discard(n, fail_expected(p, "a regex in a string literal after =~ or !~"));
    if (!(n->u.match.re = compile_regex(p)) || advance(p) < 0)
        return discard(n, NULL);
    return n;
}

/* cmp_op unary   (the left side is parsed, TOK is the operator) */
static node *parse_comparison(parser *p, node *left)
{
    node *n = expr_node_new(p->arena, ND_COMPARE, TOK.start);
    if (!n)
        return discard(left, oom(p));
    n->u.cmp.op = (compare_op)compare_op_of(TOK.kind);
    n->u.cmp.left = left;
    if (advance(p) < 0 || !(n->u.cmp.right = parse_unary(p)))
        return discard(n, NULL);
    return n;
}

/* compare ::= unary [ cmp_op unary | ( '=~' | '!~' ) STRING ] */
static node *parse_compare(parser *p)
{
    node *left = parse_unary(p);
    if (!left || !is_compare(TOK.kind))
        return left;
    node *n = compare_op_of(TOK.kind) >= 0 ? parse_comparison(p, left) : parse_match(p, left);
    if (n && is_compare(TOK.kind)) {
        expr_fail(p->err, TOK.start, "comparisons do not chain: use && or parentheses");
        return discard(n, NULL);
    }
    return n;
}

/* and_expr ::= compare { '&&' compare }  and  expr ::= and_expr { '||' and_expr } */
static node *parse_chain(parser *p, token_kind op, node_kind kind, node *(*sub)(parser *))
{
    node *first = sub(p);
    if (!first || TOK.kind != op)
        return first;
    node *list = expr_node_new(p->arena, kind, TOK.start);
    if (!list || expr_node_push(p->arena, &list->u.list.items, &list->u.list.n, first) < 0)
        return discard(list, discard(first, oom(p)));
    while (TOK.kind == op) {
        node *next = advance(p) < 0 ? NULL : sub(p);
        if (!next)
            return discard(list, NULL);
        if (expr_node_push(p->arena, &list->u.list.items, &list->u.list.n, next) < 0)
            return discard(list, discard(next, oom(p)));
    }
    return list;
}

static node *parse_and(parser *p)
{
    return parse_chain(p, TK_AND, ND_AND, parse_compare);
}

/* expr ::= and_expr { '||' and_expr } */
static node *parse_expr(parser *p)
{
    if (enter(p) < 0)
        return NULL;
    node *n = parse_chain(p, TK_OR, ND_OR, parse_and);
    p->depth--;
    return n;
}

static node *parse_all(parser *p)
{
    if (advance(p) < 0)
        return NULL;
    if (TOK.kind == TK_EOF) {
        expr_fail(p->err, TOK.start, "empty expression");
        return NULL;
    }
    node *root = parse_expr(p);
    if (root && TOK.kind != TK_EOF) {
        expr_fail(p->err, TOK.start, "unexpected %s after the expression",
                  expr_lex_token_name(TOK.kind));
        return discard(root, NULL);
    }
    return root;
}

rb_expr *expr_parse_range(const char *src, size_t start, size_t end, rb_expr_error *err)
{
    if (end - start > RB_EXPR_MAX_LEN) {
        expr_fail(err, start + RB_EXPR_MAX_LEN, "expression longer than %d bytes",
                  RB_EXPR_MAX_LEN);
        return NULL;
    }
    rb_expr *e = malloc(sizeof *e);
    if (!e) {
        expr_fail(err, start, "out of memory");
        return NULL;
    }
    rb_arena_init_in(&e->arena, e->first, sizeof e->first, 1024);
    parser p = {.err = err, .arena = &e->arena};
    expr_lex_init(&p.lx, src, start, end);
    e->root = parse_all(&p);
    expr_lex_cleanup(&p.lx);
    if (!e->root) {
        rb_arena_cleanup(&e->arena);
        free(e);
        return NULL;
    }
    return e;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The `when:` form: the whole text may be one ${{ }} with whitespace around it. */
rb_expr *rb_expr_parse(const char *src, size_t len, rb_expr_error *err)
{
    size_t s = 0, e = len, bad;
    while (s < e && is_space(src[s]))
        s++;
    while (e > s && is_space(src[e - 1]))
        e--;
    if (e - s < 3 || memcmp(src + s, "${{", 3) != 0)
        return expr_parse_range(src, 0, len, err);
    size_t close = expr_lex_find_close(src, s + 3, e, &bad);
    if (close == (size_t)-1) {
        expr_fail(err, bad != (size_t)-1 ? bad : s,
                  bad != (size_t)-1 ? "unterminated string" : "unterminated ${{");
        return NULL;
    }
    if (close + 2 != e) {
        expr_fail(err, close + 2, "unexpected text after }}");
        return NULL;
    }
    return expr_parse_range(src, s + 3, close, err);
}
