/* The dns action against real loopback resolvers (tests/servers/dnsd.py): A, AAAA, CNAME, TXT,
 * NS and SOA answers and their outputs, two resolvers that disagree (value, servers_min), rcodes,
 * a silent resolver (TIMEOUT within the deadline), cancel, a truncated answer taken over TCP, a
 * zone change seen on the next call, and parameters refused before any query. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/servers.h"

#include "runbook/action.h"

#define WATCHDOG_S 100 /* a hung query kills the program instead of stalling the suite */

enum { SRV_A, SRV_B, SRV_SILENT, NSERVERS };

static char dir[64];
static pid_t pids[NSERVERS];
static int ports[NSERVERS];
static char addr[NSERVERS][32];

/* ---- servers ---- */


/* Debian's python3 has python3-dnslib; a python3 earlier in PATH (pyenv) may not. */
static const char *python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}


static const char zone_common[] =
    "\"alias.example.test. 60 IN CNAME www.example.test.\","
    "\"www.example.test. 100 IN AAAA 2001:db8::1\","
    "\"txt.example.test. 50 IN TXT \\\"hello \\\" \\\"world\\\"\","
    "\"example.test. 3600 IN NS ns1.example.test.\", \"example.test. 1800 IN NS NS2.Example.test.\","
    "\"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300\"";

/* Zone of server `which`: www's addresses differ (A: .1 and .2, B: .9 until changed). */
static int write_zone(int which, const char *www_a)
{
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/zone%d.json", dir, which);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"records\": [%s, %s", zone_common, www_a);
    for (int i = 1; i <= 100; i++) /* over 512 bytes: truncated over UDP, asked again over TCP */
        fprintf(f, ", \"many.example.test. 30 IN A 198.51.100.%d\"", i);
    fprintf(f, "], \"rcodes\": {\"broken.example.test\": \"SERVFAIL\", \"no.example.test\": \"REFUSED\"}}\n");
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path); /* whole: the server never reads half a zone */
}

static void start_server(int which, int silent)
{
    char script[512], portfile[128], zone[128];
    snprintf(script, sizeof script, "%s/tests/servers/dnsd.py", ts_source_dir());
    snprintf(portfile, sizeof portfile, "%s/port%d", dir, which);
    snprintf(zone, sizeof zone, "%s/zone%d.json", dir, which == SRV_SILENT ? SRV_A : which);
    char *argv[] = {(char *)python(), script, "--zone", zone, "--portfile", portfile,
                    silent ? "--silent" : NULL, NULL};
    pids[which] = ts_spawn(argv);
}

static void stop_servers(void)
{
    for (int i = 0; i < NSERVERS; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        dir[0] = 0;
    }
}

static const char www_a[] = "\"www.example.test. 300 IN A 192.0.2.1\", \"www.example.test. 200 IN A 192.0.2.2\"";
static const char www_b[] = "\"www.example.test. 300 IN A 192.0.2.9\"";

static int group_setup(void **state)
{
    char err[128];
    alarm(WATCHDOG_S);
    snprintf(dir, sizeof dir, "/tmp/rb-dns-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    atexit(stop_servers);
    if (write_zone(SRV_A, www_a) != 0 || write_zone(SRV_B, www_b) != 0)
        return -1;
    for (int i = 0; i < NSERVERS; i++)
        start_server(i, i == SRV_SILENT);
    for (int i = 0; i < NSERVERS; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s/port%d", dir, i);
        if ((ports[i] = ts_read_port(file)) < 0)
            return -1;
        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", ports[i]);
    }
    return rb_dns_ops.global_init(err, sizeof err);
}

static int group_teardown(void **state)
{
    stop_servers();
    rb_dns_ops.global_cleanup();
    return 0;
}

/* ---- calls ---- */

typedef struct {
    long long timeout_ms;
    int cancel_fd;
    long long elapsed_ms;
} call_opts;

/* Runs one call with params written as JSON; takes the reference to params. */
static rb_act_result run_with(json_t *params, call_opts *o)
{
    assert_non_null(params);
    rb_act_call c = {0};
    c.params = params;
    c.deadline_ms = rb_act_now_ms() + (o && o->timeout_ms ? o->timeout_ms : 10000);
    c.cancel_fd = o && o->cancel_fd ? o->cancel_fd : -1;
    rb_act_result res = {0};
    long long t0 = rb_act_now_ms();
    rb_dns_ops.run(&c, &res);
    if (o)
        o->elapsed_ms = rb_act_now_ms() - t0;
    if (getenv("RB_TEST_VERBOSE"))
        fprintf(stderr, "  -> %s: %s\n", res.errclass, res.message);
    json_decref(params);
    return res;
}

/* name and type asked of one server */
static rb_act_result ask(int which, const char *name, const char *type)
{
    return run_with(json_pack("{ss ss s[s]}", "name", name, "type", type, "servers", addr[which]), NULL);
}

static rb_act_result ask_both(const char *name)
{
    return run_with(json_pack("{ss s[ss]}", "name", name, "servers", addr[SRV_A], addr[SRV_B]), NULL);
}

static const json_t *out_of(const rb_act_result *res, const char *field, int which)
{
    return json_object_get(json_object_get(res->outputs, field), addr[which]);
}

static const char *answer(const rb_act_result *res, int which, size_t i)
{
    return json_string_value(json_array_get(out_of(res, "answers", which), i));
}

static const char *rcode(const rb_act_result *res, int which)
{
    return json_string_value(out_of(res, "rcode", which));
}

/* Judges res against expect written as JSON (NULL: the default rule); 0 when it holds. */
static int judge(const char *expect, rb_act_result *res)
{
    json_t *e = expect ? json_loads(expect, 0, NULL) : NULL;
    assert_true(!expect || e);
    rb_dns_ops.judge(e, res);
    json_decref(e);
    return res->outcome == RB_OUT_SUCCEEDED ? 0 : -1;
}

static void done(rb_act_result *res) { json_decref(res->outputs); }

/* ---- answers ---- */

static void test_a_answers_and_outputs(void **state)
{
    rb_act_result res = ask(SRV_A, "www.example.test", "A");
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(rcode(&res, SRV_A), "NOERROR");
    assert_int_equal(json_array_size(out_of(&res, "answers", SRV_A)), 2);
    assert_string_equal(answer(&res, SRV_A, 0), "192.0.2.1");
    assert_string_equal(answer(&res, SRV_A, 1), "192.0.2.2");
    assert_int_equal(json_integer_value(out_of(&res, "ttl", SRV_A)), 200); /* the smallest */
    assert_string_equal(json_string_value(json_object_get(res.outputs, "type")), "A");
    assert_int_equal(judge(NULL, &res), 0);
    done(&res);
}

static void test_aaaa(void **state)
{
    rb_act_result res = ask(SRV_A, "www.example.test", "AAAA");
    assert_string_equal(answer(&res, SRV_A, 0), "2001:db8::1");
    assert_int_equal(json_integer_value(out_of(&res, "ttl", SRV_A)), 100);
    assert_int_equal(judge("{\"value\": \"2001:DB8:0::1\"}", &res), 0); /* as addresses */
    done(&res);
}

static void test_cname_without_trailing_dot(void **state)
{
    rb_act_result res = ask(SRV_A, "alias.example.test", "cname");
    assert_string_equal(answer(&res, SRV_A, 0), "www.example.test");
    assert_int_equal(json_integer_value(out_of(&res, "ttl", SRV_A)), 60);
    assert_int_equal(judge("{\"value\": \"WWW.Example.TEST.\"}", &res), 0);
    done(&res);
}

static void test_a_through_cname_keeps_only_addresses(void **state)
{
    rb_act_result res = ask(SRV_A, "alias.example.test", "A");
    assert_int_equal(json_array_size(out_of(&res, "answers", SRV_A)), 2);
    assert_string_equal(answer(&res, SRV_A, 0), "192.0.2.1");
    assert_int_equal(json_integer_value(out_of(&res, "ttl", SRV_A)), 200); /* not the CNAME's 60 */
    done(&res);
}

static void test_txt_strings_joined(void **state)
{
    rb_act_result res = ask(SRV_A, "txt.example.test", "TXT");
    assert_string_equal(answer(&res, SRV_A, 0), "hello world");
    assert_int_equal(judge("{\"value\": \"hello world\"}", &res), 0);
    done(&res);
    res = ask(SRV_A, "txt.example.test", "TXT");
    assert_int_equal(judge("{\"value\": \"HELLO WORLD\"}", &res), -1); /* TXT: exact */
    assert_string_equal(res.errclass, "expect");
    done(&res);
}

static void test_ns_and_soa(void **state)
{
    rb_act_result res = ask(SRV_A, "example.test", "NS");
    assert_int_equal(json_array_size(out_of(&res, "answers", SRV_A)), 2);
    assert_string_equal(answer(&res, SRV_A, 0), "ns1.example.test");
    assert_int_equal(judge("{\"value\": \"ns2.example.test\"}", &res), 0);
    assert_int_equal(json_integer_value(out_of(&res, "ttl", SRV_A)), 1800);
    done(&res);
    res = ask(SRV_A, "example.test.", "SOA");
    assert_string_equal(answer(&res, SRV_A, 0),
                        "ns1.example.test hostmaster.example.test 2024010101 7200 3600 1209600 300");
    done(&res);
}

static void test_truncated_answer_over_tcp_is_bounded(void **state)
{
    rb_act_result res = ask(SRV_A, "many.example.test", "A");
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(rcode(&res, SRV_A), "NOERROR");
    assert_int_equal(json_array_size(out_of(&res, "answers", SRV_A)), 64); /* of 100 */
    done(&res);
}

/* ---- two resolvers ---- */

static void test_disagreeing_servers(void **state)
{
    rb_act_result res = ask_both("www.example.test");
    assert_string_equal(answer(&res, SRV_B, 0), "192.0.2.9");
    assert_int_equal(judge("{\"value\": \"192.0.2.1\"}", &res), -1);
    assert_string_equal(res.errclass, "expect");
    assert_non_null(strstr(res.message, "1 of 2"));
    assert_non_null(strstr(res.message, addr[SRV_B]));
    done(&res);
    res = ask_both("www.example.test");
    assert_int_equal(judge("{\"value\": \"192.0.2.1\", \"servers_min\": 1}", &res), 0);
    done(&res);
    res = ask_both("www.example.test");
    assert_int_equal(judge("{\"value\": \"192.0.2.1\", \"servers_min\": 3}", &res), -1);
    done(&res);
}

static void test_zone_change_is_seen(void **state)
{
    assert_int_equal(write_zone(SRV_B, www_a), 0);
    rb_act_result res = ask_both("www.example.test");
    int agreed = judge("{\"value\": \"192.0.2.2\"}", &res);
    done(&res);
    assert_int_equal(write_zone(SRV_B, www_b), 0);
    assert_int_equal(agreed, 0);
}

/* ---- rcodes ---- */

static void test_nxdomain_and_other_rcodes(void **state)
{
    rb_act_result res = ask_both("nothing.example.test");
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(rcode(&res, SRV_A), "NXDOMAIN");
    assert_true(json_is_null(out_of(&res, "ttl", SRV_A)));
    assert_int_equal(judge("{\"rcode\": \"NXDOMAIN\"}", &res), 0);
    assert_int_equal(judge(NULL, &res), -1); /* the default rule wants an answer */
    assert_string_equal(res.errclass, "dns");
    done(&res);
    res = ask(SRV_A, "broken.example.test", "A");
    assert_string_equal(rcode(&res, SRV_A), "SERVFAIL");
    done(&res);
    res = ask(SRV_A, "no.example.test", "A");
    assert_string_equal(rcode(&res, SRV_A), "REFUSED");
    assert_int_equal(judge("{\"rcode\": \"NOERROR\"}", &res), -1);
    assert_string_equal(res.errclass, "expect");
    done(&res);
}

static void test_name_without_the_type(void **state)
{
    rb_act_result res = ask(SRV_A, "txt.example.test", "A");
    assert_string_equal(rcode(&res, SRV_A), "NOERROR");
    assert_int_equal(json_array_size(out_of(&res, "answers", SRV_A)), 0);
    assert_int_equal(judge(NULL, &res), -1);
    done(&res);
}

/* ---- no answer ---- */

static void test_silent_server_times_out_at_the_deadline(void **state)
{
    call_opts o = {.timeout_ms = 1200};
    rb_act_result res = run_with(json_pack("{ss s[s]}", "name", "www.example.test", "servers", addr[SRV_SILENT]), &o);
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(res.errclass, "timeout");
    assert_string_equal(rcode(&res, SRV_SILENT), "TIMEOUT");
    assert_true(o.elapsed_ms >= 800 && o.elapsed_ms < 2200);
    done(&res);
}

static void test_one_silent_of_two(void **state)
{
    call_opts o = {.timeout_ms = 800};
    json_t *p = json_pack("{ss s[ss]}", "name", "www.example.test", "servers", addr[SRV_A], addr[SRV_SILENT]);
    rb_act_result res = run_with(json_incref(p), &o);
    assert_int_equal(res.outcome, RB_OUT_SUCCEEDED);
    assert_string_equal(rcode(&res, SRV_A), "NOERROR");
    assert_string_equal(rcode(&res, SRV_SILENT), "TIMEOUT");
    assert_int_equal(judge("{\"value\": \"192.0.2.1\", \"servers_min\": 1}", &res), 0);
    assert_int_equal(judge("{\"value\": \"192.0.2.1\"}", &res), -1);
    assert_int_equal(res.outcome, RB_OUT_TIMED_OUT);
    assert_string_equal(res.errclass, "timeout");
    done(&res);
    json_decref(p);
}

static void test_closed_port_is_unreachable(void **state)
{
    /* nothing listens on port 9 of loopback */
    rb_act_result res = run_with(json_pack("{ss s[ss]}", "name", "www.example.test", "servers", "127.0.0.1:9", addr[SRV_A]), NULL);
    const char *rc = json_string_value(json_object_get(json_object_get(res.outputs, "rcode"), "127.0.0.1:9"));
    assert_non_null(rc);
    assert_string_equal(rc, "UNREACHABLE"); /* the ICMP port unreachable, not a wait */
    assert_string_equal(rcode(&res, SRV_A), "NOERROR");
    done(&res);
}

static void *cancel_later(void *arg)
{
    usleep(300000);
    if (write(*(int *)arg, "x", 1) != 1)
        abort();
    return NULL;
}

static void test_cancel_stops_at_once(void **state)
{
    int fds[2];
    pthread_t th;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &fds[1]), 0);
    call_opts o = {.timeout_ms = 30000, .cancel_fd = fds[0]};
    rb_act_result res = run_with(json_pack("{ss s[s]}", "name", "www.example.test", "servers", addr[SRV_SILENT]), &o);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(res.outcome, RB_OUT_CANCELLED);
    assert_string_equal(res.errclass, "cancelled");
    assert_true(o.elapsed_ms >= 250 && o.elapsed_ms < 1300);
    done(&res);
}

/* ---- refused before asking ---- */

static void expect_refused(json_t *params, const char *words)
{
    rb_act_result res = run_with(params, NULL);
    assert_int_equal(res.outcome, RB_OUT_FAILED);
    assert_string_equal(res.errclass, "refused");
    assert_non_null(strstr(res.message, words));
    done(&res);
}

static void test_bad_parameters_refused(void **state)
{
    expect_refused(json_pack("{ss ss}", "name", "www.example.test", "type", "MX"), "type:");
    expect_refused(json_pack("{ss s[s]}", "name", "www.example.test", "servers", "resolver.example"), "servers:");
    expect_refused(json_pack("{ss s[s]}", "name", "www.example.test", "servers", "127.0.0.1:70000"), "servers:");
    expect_refused(json_pack("{ss s[]}", "name", "www.example.test", "servers"), "servers:");
    expect_refused(json_pack("{ss}", "name", "two words"), "name:");
    json_t *many = json_array();
    for (int i = 0; i < 17; i++)
        json_array_append_new(many, json_sprintf("127.0.0.%d", i + 1));
    expect_refused(json_pack("{ss so}", "name", "www.example.test", "servers", many), "at most 16");
}

static void test_ipv6_server_forms_parse(void **state)
{
    /* nobody listens on ::1 here; what matters is that each form is accepted and keyed as written */
    call_opts o = {.timeout_ms = 300};
    rb_act_result res = run_with(json_pack("{ss s[sss]}", "name", "www.example.test", "servers", "[::1]:9", "::1",
                                           addr[SRV_A]), &o);
    assert_string_not_equal(res.errclass, "refused");
    assert_non_null(json_object_get(json_object_get(res.outputs, "rcode"), "[::1]:9"));
    assert_non_null(json_object_get(json_object_get(res.outputs, "rcode"), "::1"));
    done(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_answers_and_outputs),
        cmocka_unit_test(test_aaaa),
        cmocka_unit_test(test_cname_without_trailing_dot),
        cmocka_unit_test(test_a_through_cname_keeps_only_addresses),
        cmocka_unit_test(test_txt_strings_joined),
        cmocka_unit_test(test_ns_and_soa),
        cmocka_unit_test(test_truncated_answer_over_tcp_is_bounded),
        cmocka_unit_test(test_disagreeing_servers),
        cmocka_unit_test(test_zone_change_is_seen),
        cmocka_unit_test(test_nxdomain_and_other_rcodes),
        cmocka_unit_test(test_name_without_the_type),
        cmocka_unit_test(test_silent_server_times_out_at_the_deadline),
        cmocka_unit_test(test_one_silent_of_two),
        cmocka_unit_test(test_closed_port_is_unreachable),
        cmocka_unit_test(test_cancel_stops_at_once),
        cmocka_unit_test(test_bad_parameters_refused),
        cmocka_unit_test(test_ipv6_server_forms_parse),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
