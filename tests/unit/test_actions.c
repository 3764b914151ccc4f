/* The action registry and the action interface agree: every action type of the model reaches
 * its operations, and the data each table entry carries names real parameters and outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "runbook/action.h"
#include "runbook/model.h"

static int has_output(const rb_action_type *t, const char *name)
{
    for (size_t i = 0; t->outputs[i]; i++)
        if (!strcmp(t->outputs[i], name))
            return 1;
    return 0;
}

static void every_type_has_operations(void **state)
{
    (void)state;
    size_t n = 0;
    for (size_t i = 0; rb_action_types[i]; i++, n++) {
        const rb_action_type *t = rb_action_types[i];
        assert_non_null(t->ops);
        /* either it runs itself, or the executor runs it (a call) */
        assert_true(t->ops->run != NULL || (t->flags & RB_AT_CALLS_RUNBOOK));
        assert_ptr_equal(rb_action_type_find(t->name), t);
    }
    assert_int_equal(n, 10);
}

/* Each type is paired with its own operations: a swapped entry in the registry fails here. */
static void every_type_has_its_own_operations(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const rb_action_ops *ops;
    } want[] = {
        {"exec", &rb_exec_ops},   {"shell", &rb_shell_ops},     {"http", &rb_http_ops},
        {"sql", &rb_sql_ops},     {"ssh", &rb_ssh_ops},         {"sleep", &rb_sleep_ops},
        {"assert", &rb_assert_ops}, {"file", &rb_file_ops},     {"runbook", &rb_runbook_ops},
        {"dns", &rb_dns_ops},
    };
    size_t n = 0;
    for (size_t i = 0; rb_action_types[i]; i++, n++) {
        const rb_action_type *t = rb_action_types[i];
        size_t k = 0;
        while (k < sizeof want / sizeof want[0] && strcmp(want[k].name, t->name))
            k++;
        if (k == sizeof want / sizeof want[0])
            fail_msg("action type %s has no expected operations in this test", t->name);
        if (t->ops != want[k].ops)
            fail_msg("action type %s points at another type's operations", t->name);
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
    /* the slots only sql has: quoting on its connection */
    assert_non_null(rb_sql_ops.open);
    assert_non_null(rb_sql_ops.escape);
    assert_null(rb_http_ops.escape);
}

static void table_data_names_real_params_and_outputs(void **state)
{
    (void)state;
    for (size_t i = 0; rb_action_types[i]; i++) {
        const rb_action_type *t = rb_action_types[i];
        if (t->quoted_param)
            assert_true(rb_action_param_index(t, t->quoted_param) >= 0);
        if (t->argv_param)
            assert_true(rb_action_param_index(t, t->argv_param) >= 0);
        if (t->capture_text)
            assert_true(has_output(t, t->capture_text));
        for (size_t k = 0; t->journal_fields && t->journal_fields[k]; k++)
            assert_true(has_output(t, t->journal_fields[k]));
        /* a type that judges expect: takes expect keys, and one with a target names its kind */
        if (t->expect_keys)
            assert_non_null(t->ops->judge);
        if (t->target_kind)
            assert_true(rb_action_param_index(t, "target") >= 0);
        /* plan reads the flag, the executor the operation: they must agree */
        assert_int_equal((t->flags & RB_AT_SELF_UNDO) != 0, t->ops->undo != NULL);
    }
}

static void specific_entries(void **state)
{
    (void)state;
    assert_string_equal(rb_action_type_find("shell")->quoted_param, "script");
    assert_string_equal(rb_action_type_find("ssh")->quoted_param, "command");
    assert_string_equal(rb_action_type_find("exec")->argv_param, "argv");
    assert_string_equal(rb_action_type_find("http")->capture_text, "body");
    assert_string_equal(rb_action_type_find("sql")->capture_text, "value");
    assert_non_null(rb_action_type_find("file")->ops->undo);
    assert_true(rb_action_type_find("sleep")->flags & RB_AT_SELF_TIMED);
    assert_true(rb_action_type_find("sql")->capture_kinds & (1u << RB_CAP_COLUMN));
    assert_false(rb_action_type_find("http")->capture_kinds & (1u << RB_CAP_COLUMN));
    assert_non_null(rb_action_type_find("http")->ops->disconnect);
    assert_non_null(rb_action_type_find("sql")->ops->disconnect);
    assert_non_null(rb_action_type_find("ssh")->ops->disconnect);
}

static void global_init_is_idempotent(void **state)
{
    (void)state;
    char err[128] = "";
    assert_int_equal(rb_actions_global_init(err, sizeof err), 0);
    assert_int_equal(rb_actions_global_init(err, sizeof err), 0);
    rb_actions_global_cleanup();
}

static void judge_helpers(void **state)
{
    (void)state;
    json_t *list = json_pack("[i,i]", 200, 204), *cls = json_string("4xx"), *one = json_integer(503);
    assert_true(rb_act_code_allowed(NULL, 0, 0));
    assert_false(rb_act_code_allowed(NULL, 1, 0));
    assert_true(rb_act_code_allowed(NULL, 201, 2));
    assert_true(rb_act_code_allowed(list, 204, 2));
    assert_false(rb_act_code_allowed(list, 201, 2));
    assert_true(rb_act_code_allowed(cls, 404, 2));
    assert_true(rb_act_code_allowed(one, 503, 2));
    rb_act_result res = {.outcome = RB_OUT_SUCCEEDED, .outputs = json_pack("{s:i, s:s}", "status", 503, "body", "x")};
    assert_int_equal(rb_act_judge_code_and_text(NULL, &res, "status", 2, "HTTP status", "body"), -1);
    assert_string_equal(res.errclass, "503");
    json_t *doc = json_pack("{s:[{s:s}], s:{s:i}}", "a", "b", "c", "d~/e", "f", 1);
    assert_string_equal(json_string_value(rb_json_pointer_get(doc, "/a/0/b")), "c");
    assert_int_equal(json_integer_value(rb_json_pointer_get(doc, "/d~0~1e/f")), 1);
    assert_null(rb_json_pointer_get(doc, "/a/01"));
    assert_null(rb_json_pointer_get(doc, "/a/1"));
    json_decref(doc);
    json_decref(res.outputs);
    json_decref(list);
    json_decref(cls);
    json_decref(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_has_operations),
        cmocka_unit_test(every_type_has_its_own_operations),
        cmocka_unit_test(table_data_names_real_params_and_outputs),
        cmocka_unit_test(specific_entries),
        cmocka_unit_test(global_init_is_idempotent),
        cmocka_unit_test(judge_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
