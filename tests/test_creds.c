/* Credentials without the network: endpoints in every partition, time
 * parsing, the profile file reader, STS answers, container URL checks, and
 * the shared cache under 8 threads (a credential_process that records
 * overlapping runs). */
#define _DEFAULT_SOURCE   /* setenv, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "aws_profile.h"
#include "container_creds.h"
#include "creds.h"
#include "credential_process.h"
#include "endpoints.h"
#include "sts.h"

static void endpoints_in_every_partition(void **state)
{
    (void)state;
    static const struct { const char *service, *region; int fips, dual; const char *want; } cases[] = {
        { "dynamodb", "eu-west-1", 0, 0, "https://dynamodb.eu-west-1.amazonaws.com" },
        { "dynamodb", "cn-north-1", 0, 0, "https://dynamodb.cn-north-1.amazonaws.com.cn" },
        { "dynamodb", "cn-northwest-1", 0, 1, "https://dynamodb.cn-northwest-1.api.amazonwebservices.com.cn" },
        { "dynamodb", "us-east-2", 1, 0, "https://dynamodb-fips.us-east-2.amazonaws.com" },
        { "dynamodb", "ca-central-1", 1, 1, "https://dynamodb-fips.ca-central-1.api.aws" },
        { "dynamodb", "us-gov-east-1", 1, 0, "https://dynamodb.us-gov-east-1.amazonaws.com" },
        { "sts", "eu-central-1", 0, 0, "https://sts.eu-central-1.amazonaws.com" },
        { "sts", "cn-north-1", 0, 0, "https://sts.cn-north-1.amazonaws.com.cn" },
        { "sts", "us-west-2", 1, 0, "https://sts-fips.us-west-2.amazonaws.com" },
        { "sts", "ap-south-1", 0, 1, "https://sts.ap-south-1.api.aws" },
    };
    char out[256], err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(0, endpoints_resolve(cases[i].service, cases[i].region, cases[i].fips, cases[i].dual,
                                              out, sizeof out, err, sizeof err));
        assert_string_equal(cases[i].want, out);
    }
    assert_int_equal(-1, endpoints_resolve("sts", "ca-central-1", 1, 0, out, sizeof out, err, sizeof err));
    assert_string_equal("AWS_USE_FIPS_ENDPOINT: sts has no FIPS endpoint in ca-central-1", err);
}

static void times(void **state)
{
    (void)state;
    long long ms;
    assert_int_equal(0, creds_parse_time("2026-12-01T14:00:00Z", &ms));
    assert_int_equal(1796133600000LL, ms);
    assert_int_equal(0, creds_parse_time("2026-12-01T14:00:00.250Z", &ms));
    assert_int_equal(1796133600250LL, ms);
    assert_int_equal(0, creds_parse_time("2026-12-01T15:00:00+01:00", &ms));
    assert_int_equal(1796133600000LL, ms);
    assert_int_equal(0, creds_parse_http_date("Tue, 01 Dec 2026 14:00:00 GMT", &ms));
    assert_int_equal(1796133600000LL, ms);
    assert_int_equal(-1, creds_parse_time("2026-12-01 14:00:00", &ms));
    assert_int_equal(-1, creds_parse_time("tomorrow", &ms));
    assert_int_equal(-1, creds_parse_http_date("Tue, 01 Foo 2026 14:00:00 GMT", &ms));
    char text[32];
    creds_format_time(1796133600000LL, text);
    assert_string_equal("2026-12-01T14:00:00Z", text);
}

static char *write_temp(const char *dir, const char *name, const char *text)
{
    char *path = malloc(512);
    snprintf(path, 512, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void profile_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_creds_XXXXXX", err[512];
    assert_non_null(mkdtemp(dir));
    char *config = write_temp(dir, "config",
        "# comment\n[default]\nregion = eu-west-1\n[profile dev]\nregion = us-west-2\ns3 =\n  max_concurrent_requests = 5\n"
        "role_arn = arn:aws:iam::1:role/r\n[sso-session corp]\nsso_region = us-east-1\n");
    char *credentials = write_temp(dir, "credentials", "[dev]\nregion = ap-south-1\naws_access_key_id = AKID\n");
    aws_profiles p;
    assert_int_equal(0, aws_profiles_load(&p, config, credentials, err, sizeof err));
    assert_true(aws_profiles_has(&p, "default"));
    assert_true(aws_profiles_has(&p, "dev"));
    assert_false(aws_profiles_has(&p, "corp"));
    assert_string_equal("eu-west-1", aws_profiles_get(&p, "default", "region")->value);
    const aws_profile_entry *e = aws_profiles_get(&p, "dev", "region");
    assert_string_equal("ap-south-1", e->value);   /* the credentials file wins */
    assert_string_equal(credentials, e->file);
    assert_int_equal(2, e->line);
    assert_null(aws_profiles_get(&p, "dev", "max_concurrent_requests"));
    assert_string_equal("arn:aws:iam::1:role/r", aws_profiles_get(&p, "dev", "role_arn")->value);
    aws_profiles_free(&p);

    char *bad = write_temp(dir, "bad", "[profile x\nregion = y\n");
    assert_int_equal(-1, aws_profiles_load(&p, bad, "", err, sizeof err));
    char want[600];
    snprintf(want, sizeof want, "%s:1: malformed section header (expected [profile NAME] or [default])", bad);
    assert_string_equal(want, err);
    char *orphan = write_temp(dir, "orphan", "region = y\n");
    assert_int_equal(-1, aws_profiles_load(&p, orphan, "", err, sizeof err));
    snprintf(want, sizeof want, "%s:1: a setting before any [section]", orphan);
    assert_string_equal(want, err);
    assert_int_equal(0, aws_profiles_load(&p, "/nonexistent/config", "", err, sizeof err));   /* missing: no error */
    aws_profiles_free(&p);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(0, system(cmd));
    free(config);
    free(credentials);
    free(bad);
    free(orphan);
}

static void sts_answers(void **state)
{
    (void)state;
    static const char ok[] =
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
        "<Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>"
        "<SessionToken>tok&amp;en</SessionToken><Expiration>2026-12-01T15:00:00Z</Expiration></Credentials>"
        "</AssumeRoleResult></AssumeRoleResponse>";
    static const char error[] =
        "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>Token expired</Message></Error></ErrorResponse>";
    creds_value v;
    char err[512];
    assert_int_equal(0, sts_parse_answer(ok, strlen(ok), 200, &v, err, sizeof err));
    assert_string_equal("ASIAEXAMPLE", v.access_key);
    assert_string_equal("s3cr3t", v.secret_key);
    assert_string_equal("tok&en", v.session_token);
    assert_int_equal(1796137200000LL, v.expiration_ms);
    assert_int_equal(-1, sts_parse_answer(error, strlen(error), 400, &v, err, sizeof err));
    assert_string_equal("STS ExpiredToken: Token expired (HTTP 400)", err);
    assert_int_equal(-1, sts_parse_answer("<html>", 6, 502, &v, err, sizeof err));
    assert_string_equal("STS answered HTTP 502 with a body that is not XML (no element found at line 1)", err);
}

static void container_urls(void **state)
{
    (void)state;
    static const struct { const char *variable, *value; int ok; } cases[] = {
        { "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8080/creds", 1 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials", 1 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[fd00:ec2::23]/v1/credentials", 1 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/x", 1 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/x", 0 },
        { "AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/x", 0 },
    };
    char url[512], err[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        setenv(cases[i].variable, cases[i].value, 1);
        creds_env e;
        assert_int_equal(0, creds_env_capture(&e, "us-east-1", ""));
        assert_int_equal(cases[i].ok ? 0 : -1, container_creds_url(&e, url, sizeof url, err, sizeof err));
        if (i == 0) assert_string_equal("http://169.254.170.2/v2/credentials/abc", url);
        creds_env_free(&e);
    }
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
}

/* --- the shared cache under threads --- */

typedef struct cache_worker {
    creds_cache *cache;
    const char *runs_path;
    int expired_seen, errors;
} cache_worker;

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

/* Gets credentials until the process has run 4 times (3 refreshes). */
static void *cache_worker_main(void *arg)
{
    cache_worker *w = arg;
    creds_value v;
    unsigned long gen = 0;
    long long offset;
    char err[512];
    while (count_lines(w->runs_path) < 4) {
        if (creds_cache_get(w->cache, &v, &gen, &offset, err, sizeof err) != 0) {
            w->errors++;
            continue;
        }
        if (v.expiration_ms && creds_wall_ms() + offset >= v.expiration_ms) w->expired_seen++;
    }
    creds_value_clear(&v);
    return NULL;
}

static void cache_single_flight(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_creds_XXXXXX", script[2048], config_text[700];
    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof script,
             "mkdir %s/lock 2>/dev/null || echo overlap >> %s/overlaps\n"
             "echo run >> %s/runs\n"
             "sleep 0.1\n"
             "rmdir %s/lock\n"
             "printf '{\"Version\": 1, \"AccessKeyId\": \"AKID%%s\", \"SecretAccessKey\": \"s\", \"Expiration\": \"%%s\"}' "
             "\"$(date +%%s%%N)\" \"$(date -u -d '+2 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)\"\n", dir, dir, dir, dir);
    char *script_path = write_temp(dir, "creds.sh", script);
    snprintf(config_text, sizeof config_text, "[profile threads]\ncredential_process = sh %s\n", script_path);
    char *config = write_temp(dir, "config", config_text);
    setenv("AWS_CONFIG_FILE", config, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
    setenv("AWS_PROFILE", "threads", 1);
    char err[256], runs[600], overlaps[600];
    creds_registry *registry = creds_registry_new();
    assert_non_null(registry);
    creds_cache *cache = creds_cache_shared(registry, "us-east-1", "", err, sizeof err);
    assert_non_null(cache);
    assert_ptr_equal(cache, creds_cache_shared(registry, "us-east-1", "", err, sizeof err));   /* one per settings */
    assert_ptr_not_equal(cache, creds_cache_shared(registry, "eu-west-1", "", err, sizeof err));
    snprintf(runs, sizeof runs, "%s/runs", dir);
    snprintf(overlaps, sizeof overlaps, "%s/overlaps", dir);
    cache_worker workers[8];
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (cache_worker){ cache, runs, 0, 0 };
        assert_int_equal(0, pthread_create(&threads[i], NULL, cache_worker_main, &workers[i]));
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(0, workers[i].expired_seen);
        assert_int_equal(0, workers[i].errors);
    }
    assert_int_equal(0, count_lines(overlaps));   /* never two refreshes at once */
    char source[64];
    long long expiration;
    creds_cache_describe(cache, source, sizeof source, &expiration);
    assert_string_equal("process", source);
    assert_true(expiration > 0);
    creds_registry_free(registry);   /* all threads joined */
    unsetenv("AWS_PROFILE");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(0, system(cmd));
    free(script_path);
    free(config);
}

/* STS follows the profile's use_fips_endpoint / use_dualstack_endpoint, the
 * environment winning, as the DynamoDB endpoint does. */
static void sts_endpoint_from_profile(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_creds_XXXXXX", url[256], err[256];
    assert_non_null(mkdtemp(dir));
    char *config = write_temp(dir, "config", "[default]\nuse_fips_endpoint = true\n");
    setenv("AWS_CONFIG_FILE", config, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_USE_FIPS_ENDPOINT");
    unsetenv("AWS_USE_DUALSTACK_ENDPOINT");
    unsetenv("AWS_ENDPOINT_URL_STS");
    unsetenv("AWS_ENDPOINT_URL");
    creds_env e;
    assert_int_equal(0, creds_env_capture(&e, "us-west-2", ""));
    assert_int_equal(0, sts_endpoint(&e, url, sizeof url, err, sizeof err));
    assert_string_equal("https://sts-fips.us-west-2.amazonaws.com", url);
    creds_env_free(&e);
    setenv("AWS_USE_FIPS_ENDPOINT", "false", 1);
    assert_int_equal(0, creds_env_capture(&e, "us-west-2", ""));
    assert_int_equal(0, sts_endpoint(&e, url, sizeof url, err, sizeof err));
    assert_string_equal("https://sts.us-west-2.amazonaws.com", url);
    creds_env_free(&e);
    unsetenv("AWS_USE_FIPS_ENDPOINT");
    unlink(config);
    rmdir(dir);
    free(config);
}

/* A command that never finishes is killed, with all it started, after the
 * timeout; the message names the command, not its output. On a loaded machine
 * the shell may not have started its sleep (or written its pid) before the
 * kill, so the test reaps whatever it did start rather than assume it. */
static void credential_process_timeout(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_creds_XXXXXX", command[200], err[512], pid_text[32] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(command, sizeof command, "echo secret; sleep 600 & echo $! > %s/pid; wait", dir);
    assert_int_equal(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));   /* so that we can wait for the grandchild */
    creds_value v;
    assert_int_equal(-1, credential_process_fetch(command, 1, &v, err, sizeof err));
    char expected[400];
    snprintf(expected, sizeof expected, "credential_process `%s`: timed out after 1 s", command);
    assert_string_equal(expected, err);
    char path[100];
    snprintf(path, sizeof path, "%s/pid", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        assert_non_null(fgets(pid_text, sizeof pid_text, f));
        fclose(f);
    }
    /* every grandchild (orphaned to us, the subreaper) died of its group's SIGKILL */
    int status = 0, saw_pid = 0;
    pid_t child;
    while ((child = waitpid(-1, &status, 0)) > 0) {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(SIGKILL, WTERMSIG(status));
        saw_pid |= *pid_text && child == (pid_t)atol(pid_text);
    }
    assert_int_equal(ECHILD, errno);
    if (*pid_text) assert_true(saw_pid);
    assert_int_equal(0, prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0));
    snprintf(path, sizeof path, "rm -rf %s", dir);
    assert_int_equal(0, system(path));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(endpoints_in_every_partition),
        cmocka_unit_test(times),
        cmocka_unit_test(profile_files),
        cmocka_unit_test(sts_answers),
        cmocka_unit_test(container_urls),
        cmocka_unit_test(cache_single_flight),
        cmocka_unit_test(credential_process_timeout),
        cmocka_unit_test(sts_endpoint_from_profile),
    };
    return cmocka_run_group_tests_name("creds", tests, NULL, NULL);
}
