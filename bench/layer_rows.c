/*
 * bench/layer_rows.c - module layers in the speed rows: installing Debian's
 * pip, setuptools and wheel wheels into a layer (offline, in a sandbox),
 * and a warm execution importing a module from the layer, beside the same
 * module preloaded from it and the same module from Debian's own
 * dist-packages with no layer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pysandbox.h>

#include "bench/bench.h"

#define WHEELS "/usr/share/python-wheels"
/* A pure-Python module of some size that Debian's pip vendors, in the layer and in the system. */
#define MODULE "pip._vendor.rich.console"

/* A warm sandbox mounting layer "bench", with module preloaded if preload. NULL on failure. */
static psb_sandbox *layer_sandbox(const bench_state *st, const char *root, int layer, int preload) {
    psb_error err = {.code = PSB_OK};
    psb_sandbox *sb = NULL;
    psb_config *c = psb_config_new(&err);
    const char *modules[] = {"numpy", "pandas", "matplotlib", MODULE};
    if (c == NULL || psb_config_set_layers_dir(c, root, &err) != PSB_OK ||
        (layer && psb_config_set_policy_json(c, "{\"layers\": [\"bench\"]}", &err) != PSB_OK) ||
        psb_config_set_early_start(c, 0, &err) != PSB_OK ||
        psb_config_set_preload(c, modules, preload ? 4 : 3, &err) != PSB_OK ||
        (st->helper_path && psb_config_set_helper_path(c, st->helper_path, &err) != PSB_OK) ||
        psb_sandbox_new(c, &sb, &err) != PSB_OK)
        fprintf(stderr, "pysandbox-bench: layer sandbox: %s\n", err.message);
    psb_config_free(c);
    return sb;
}

/* n installs of the Debian wheels into layer "bench" (each a new generation). 0 or -1. */
static int install_row(bench_state *st, psb_config *config, size_t n) {
    const char *sources[] = {WHEELS};
    double *samples = calloc(n, sizeof *samples);
    bench_row r = {0};
    int rc = -1;
    for (size_t i = 0; samples && i < n; i++) {
        psb_error err = {.code = PSB_OK};
        psb_outcome *out = NULL;
        double t0 = bench_now_ms();
        psb_status s = psb_layer_install(config, "bench", sources, 1, NULL, NULL, &out, &err);
        samples[i] = bench_now_ms() - t0;
        int ok = s == PSB_OK && psb_outcome_ok(out);
        if (!ok)
            fprintf(stderr, "pysandbox-bench: layer install: %s\n",
                    s != PSB_OK ? err.message : psb_outcome_error_message(out));
        psb_outcome_free(out);
        if (!ok)
            goto out;
    }
    r.n = n;
    bench_fill_percentiles(&r, samples, n);
    r.throughput_per_s = 1000.0 / r.p50_ms;
    bench_speed_line(st, "layer install", "Debian's pip, setuptools, wheel wheels, offline", &r,
                     "-");
    rc = 0;
out:
    free(samples);
    return rc;
}

/* n warm executions importing MODULE on sb (after one more); the row in *r. 0 or -1. */
static int import_row(psb_sandbox *sb, size_t n, bench_row *r) {
    static const char code[] = "import " MODULE "\nresult = 1";
    double ms = 0;
    return bench_exec(sb, code, "layer import", &ms) == 0 ? bench_latency_row(sb, code, 0, n, r)
                                                          : -1;
}

/* The three import rows, each on a sandbox of its own. 0 or -1. */
static int import_rows(bench_state *st, const char *root) {
    static const struct {
        int layer, preload;
        const char *how;
    } kinds[] = {
        {1, 1, "warm, " MODULE " preloaded from a layer"},
        {1, 0, "warm, import " MODULE " from a layer"},
        {0, 0, "warm, import " MODULE " from Debian's dist-packages"},
    };
    bench_row r[3];
    memset(r, 0, sizeof r);
    for (size_t k = 0; k < 3; k++) {
        psb_sandbox *sb = layer_sandbox(st, root, kinds[k].layer, kinds[k].preload);
        int rc = sb ? import_row(sb, st->set.n_warm, &r[k]) : -1;
        psb_sandbox_free(sb);
        if (rc != 0)
            return -1;
        char vs[64] = "1.0x";
        if (k > 0)
            snprintf(vs, sizeof vs, "%.1fx the preloaded row", r[k].p50_ms / r[0].p50_ms);
        bench_speed_line(st, "layer import", kinds[k].how, &r[k], vs);
    }
    return 0;
}

int bench_run_layers(bench_state *st) {
    char root[] = "/var/tmp/psb-bench-layers-XXXXXX"; /* executions never see /tmp's */
    psb_error err = {.code = PSB_OK};
    psb_config *config = NULL;
    int rc = -1;
    if (access(WHEELS, R_OK) != 0) {
        bench_add_note(st, "layer rows: no wheels in " WHEELS " (python3-pip-whl); skipped");
        return 0;
    }
    if (!mkdtemp(root) || chmod(root, 0755) != 0) /* a root host's children read it */
        return -1;
    fprintf(stderr, "pysandbox-bench: layer rows in %s\n", root);
    config = psb_config_new(&err);
    if (config == NULL || psb_config_set_layers_dir(config, root, &err) != PSB_OK ||
        (st->helper_path && psb_config_set_helper_path(config, st->helper_path, &err) != PSB_OK) ||
        psb_layer_create(config, "bench", &err) != PSB_OK) {
        fprintf(stderr, "pysandbox-bench: layer: %s\n", err.message);
        goto out;
    }
    if (install_row(st, config, st->set.quick ? 2 : 5) == 0 && import_rows(st, root) == 0)
        rc = 0;
    (void)psb_layer_remove(config, "bench", NULL);
out:
    psb_config_free(config);
    rmdir(root);
    if (rc != 0)
        fprintf(stderr, "pysandbox-bench: the layer rows failed\n");
    return rc;
}
