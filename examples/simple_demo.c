/*
 * simple_demo.c - a short tour of libpysandbox: a calculation, JSON inputs
 * turned into statistics by Python, and the sandbox refusing to read secrets,
 * start processes, reach the network or write outside its scratch dir.
 * Exits 0 when everything behaved as expected, 1 otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pysandbox.h>

/* Runs code; returns the outcome, or NULL after printing why the call failed. */
static psb_outcome *run(psb_sandbox *sandbox, const char *code, const psb_exec_options *options) {
    psb_error err = {.code = PSB_OK};
    psb_outcome *outcome = NULL;
    psb_status st = psb_exec(sandbox, code, strlen(code), options, &outcome, &err);
    if (st != PSB_OK) {
        fprintf(stderr, "psb_exec: %s: %s\n", psb_status_str(st), err.message);
        return NULL;
    }
    return outcome;
}

static const char *or_dash(const char *s) {
    return s != NULL ? s : "-";
}

static void print_outcome(const psb_outcome *outcome) {
    if (psb_outcome_ok(outcome)) {
        size_t len = 0;
        const char *out = psb_outcome_stdout(outcome, &len, NULL);
        psb_stats stats;
        psb_outcome_stats(outcome, &stats);
        printf("  status: ok\n  result: %s\n", psb_outcome_result_json(outcome));
        if (len > 0)
            printf("  stdout: %s", out);
        printf("  took %" PRIu64 " ms, peak RSS %" PRIu64 " KiB\n", stats.wall_ms,
               stats.peak_rss_kib);
        return;
    }
    printf("  status: error\n  kind: %s\n  message: %s\n",
           psb_error_kind_name(psb_outcome_error_kind(outcome)),
           or_dash(psb_outcome_error_message(outcome)));
    if (psb_outcome_error_module(outcome) != NULL)
        printf("  module: %s\n", psb_outcome_error_module(outcome));
    if (psb_outcome_error_event(outcome) != NULL)
        printf("  event: %s\n", psb_outcome_error_event(outcome));
}

/* 1. A plain calculation: the value of `result` comes back as JSON. */
static int demo_calculation(psb_sandbox *sandbox) {
    static const char code[] = "result = sum(i * i for i in range(1, 11))";
    printf("== calculation: %s\n", code);
    psb_outcome *outcome = run(sandbox, code, NULL);
    if (outcome == NULL)
        return 0;
    print_outcome(outcome);
    int good = psb_outcome_ok(outcome) && strcmp(psb_outcome_result_json(outcome), "385") == 0;
    psb_outcome_free(outcome);
    return good;
}

/* 2. JSON in, JSON out: the host passes data as `inputs`, Python summarizes it. */
static int demo_statistics(psb_sandbox *sandbox) {
    static const char inputs[] =
        "{\"city\": \"Oslo\", \"temperatures\": [21.5, 19.0, 23.25, 18.75, 22.0]}";
    static const char code[] = "import math\n"
                               "t = sorted(inputs['temperatures'])\n"
                               "n = len(t)\n"
                               "mean = sum(t) / n\n"
                               "median = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2\n"
                               "stdev = math.sqrt(sum((x - mean) ** 2 for x in t) / (n - 1))\n"
                               "print(f\"{inputs['city']}: {n} readings\")\n"
                               "result = {'count': n, 'min': t[0], 'max': t[-1], 'mean': mean,\n"
                               "          'median': median, 'stdev': round(stdev, 3)}\n";
    printf("\n== statistics over %s\n", inputs);
    psb_error err = {.code = PSB_OK};
    psb_exec_options *options = psb_exec_options_new(&err);
    if (options == NULL ||
        psb_exec_options_set_inputs_json(options, inputs, strlen(inputs), &err) != PSB_OK) {
        fprintf(stderr, "options: %s\n", err.message);
        psb_exec_options_free(options);
        return 0;
    }
    psb_outcome *outcome = run(sandbox, code, options);
    psb_exec_options_free(options);
    if (outcome == NULL)
        return 0;
    print_outcome(outcome);
    int good =
        psb_outcome_ok(outcome) && strstr(psb_outcome_result_json(outcome), "\"count\":5") != NULL;
    psb_outcome_free(outcome);
    return good;
}

/* 3. Things untrusted code must not do. Each one has to be refused. */
struct attempt {
    const char *what;
    const char *code;
    const char *forbidden_file; /* must not exist afterwards, or NULL */
};

static int demo_security(psb_sandbox *sandbox) {
    char tmp_path[96], tmp_code[192];
    snprintf(tmp_path, sizeof tmp_path, "/tmp/pysandbox-demo-%ld", (long)getpid());
    snprintf(tmp_code, sizeof tmp_code, "open('%s', 'w').write('pwned')", tmp_path);
    const struct attempt attempts[] = {
        {"read a file outside the allowed paths", "result = open('/etc/shadow').read()", NULL},
        {"run a subprocess",
         "import subprocess\nresult = subprocess.run(['id'], capture_output=True).stdout", NULL},
        {"run a shell command with os.system", "import os\nos.system('cat /etc/passwd')", NULL},
        {"open a network connection with socket",
         "import socket\nsocket.create_connection(('example.com', 80), timeout=3)", NULL},
        {"fetch a URL with urllib.request",
         "import urllib.request\n"
         "result = urllib.request.urlopen('http://example.com', timeout=3).status",
         NULL},
        {"write a file under /etc", "open('/etc/pysandbox-demo', 'w').write('pwned')",
         "/etc/pysandbox-demo"},
        {"write a file under /tmp (outside the scratch dir)", tmp_code, tmp_path},
    };
    int refused_all = 1;
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        const struct attempt *a = &attempts[i];
        printf("\n== security: %s\n", a->what);
        psb_outcome *outcome = run(sandbox, a->code, NULL);
        if (outcome == NULL) {
            refused_all = 0;
            continue;
        }
        print_outcome(outcome);
        psb_error_kind kind = psb_outcome_error_kind(outcome);
        int refused = kind == PSB_KIND_DENIED || kind == PSB_KIND_IMPORT_DENIED;
        if (a->forbidden_file != NULL && access(a->forbidden_file, F_OK) == 0) {
            printf("  !! %s exists\n", a->forbidden_file);
            refused = 0;
        }
        printf("  -> %s\n", refused ? "refused, as expected" : "NOT REFUSED");
        refused_all &= refused;
        psb_outcome_free(outcome);
    }
    return refused_all;
}

int main(void) {
    psb_error err = {.code = PSB_OK};
    psb_sandbox *sandbox = NULL;
    psb_config *config = psb_config_new(&err);
    if (config == NULL) {
        fprintf(stderr, "psb_config_new: %s\n", err.message);
        return 1;
    }
    psb_status st = psb_sandbox_new(config, &sandbox, &err);
    psb_config_free(config);
    if (st != PSB_OK) {
        fprintf(stderr, "psb_sandbox_new: %s: %s\n", psb_status_str(st), err.message);
        return 1;
    }

    int calc_ok = demo_calculation(sandbox);
    int stats_ok = demo_statistics(sandbox);
    int secure = demo_security(sandbox);
    psb_sandbox_free(sandbox);

    printf("\ncalculation: %s, statistics: %s, security checks: %s\n", calc_ok ? "ok" : "FAILED",
           stats_ok ? "ok" : "FAILED", secure ? "all refused" : "SOME NOT REFUSED");
    return calc_ok && stats_ok && secure ? 0 : 1;
}
