/*
 * examples/data_analysis.c - the data-analysis demo: sandboxed pandas code
 * builds a year of synthetic sales, summarizes it, draws two matplotlib
 * charts and writes a CSV; the C side prints the summary and saves the
 * figures and files it got back into an output directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pysandbox.h>

static const char code[] =
    "import numpy as np\n"
    "import pandas as pd\n"
    "import matplotlib.pyplot as plt\n"
    "\n"
    "rng = np.random.default_rng(inputs['seed'])\n"
    "days = pd.date_range('2025-01-01', periods=365, freq='D')\n"
    "regions = inputs['regions']\n"
    "rows = []\n"
    "for region_index, region in enumerate(regions):\n"
    "    base = 200 + 60 * region_index\n"
    "    season = 1 + 0.3 * np.sin(np.arange(len(days)) / 365 * 2 * np.pi)\n"
    "    units = rng.poisson(base * season)\n"
    "    price = rng.normal(25, 2, len(days)).round(2)\n"
    "    rows.append(pd.DataFrame({'date': days, 'region': region, 'units': units,\n"
    "                              'revenue': (units * price).round(2)}))\n"
    "sales = pd.concat(rows, ignore_index=True)\n"
    "sales['month'] = sales['date'].dt.to_period('M').astype(str)\n"
    "\n"
    "by_region = sales.groupby('region')['revenue'].sum().sort_values(ascending=False)\n"
    "by_month = sales.pivot_table(index='month', columns='region', values='revenue', "
    "aggfunc='sum')\n"
    "\n"
    "fig, ax = plt.subplots(figsize=(7, 4), dpi=100)\n"
    "by_region.plot.bar(ax=ax, color='#4C72B0')\n"
    "ax.set_title('Revenue by region, 2025')\n"
    "ax.set_ylabel('revenue')\n"
    "fig.tight_layout()\n"
    "\n"
    "fig, ax = plt.subplots(figsize=(8, 4), dpi=100)\n"
    "by_month.plot(ax=ax, marker='o')\n"
    "ax.set_title('Monthly revenue per region')\n"
    "ax.set_ylabel('revenue')\n"
    "fig.tight_layout()\n"
    "\n"
    "by_month.round(2).to_csv('monthly_revenue.csv')\n"
    "print(f'{len(sales)} rows of sales, {sales.units.sum()} units')\n"
    "result = {\n"
    "    'rows': len(sales),\n"
    "    'total_revenue': round(float(sales.revenue.sum()), 2),\n"
    "    'best_region': by_region.index[0],\n"
    "    'revenue_by_region': by_region.round(2).to_dict(),\n"
    "    'best_month': by_month.sum(axis=1).idxmax(),\n"
    "    'mean_daily_units': sales.groupby('date').units.sum().describe().round(1).to_dict(),\n"
    "}\n";

/* Writes len bytes to dir/name; returns 0 or -1 with a message printed. */
static int save(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (fclose(f) != 0) { /* the last buffered bytes are written here */
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    printf("  saved %s (%zu bytes)\n", path, len);
    return 0;
}

int main(int argc, char **argv) {
    const char *out_dir = argc > 1 ? argv[1] : "pysandbox-demo-output";
    psb_error err = {PSB_OK, 0, ""};
    psb_config *config = NULL;
    psb_sandbox *sb = NULL;
    psb_exec_options *opts = NULL;
    psb_outcome *outcome = NULL;
    int rc = 1;

    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    config = psb_config_new(&err);
    if (!config || psb_config_set_policy(config, "data-science", &err) ||
        psb_sandbox_new(config, &sb, &err))
        goto fail;
    opts = psb_exec_options_new(&err);
    const char inputs[] =
        "{\"seed\": 2025, \"regions\": [\"north\", \"south\", \"east\", \"west\"]}";
    if (!opts || psb_exec_options_set_inputs_json(opts, inputs, strlen(inputs), &err) ||
        psb_exec_options_set_timeout_ms(opts, 60000, &err) ||
        psb_exec(sb, code, strlen(code), opts, &outcome, &err))
        goto fail;

    size_t out_len;
    printf("sandbox stdout: %s", psb_outcome_stdout(outcome, &out_len, NULL));
    if (!psb_outcome_ok(outcome)) {
        fprintf(stderr, "the analysis failed: %s: %s\n%s\n",
                psb_error_kind_name(psb_outcome_error_kind(outcome)),
                psb_outcome_error_message(outcome) ? psb_outcome_error_message(outcome) : "",
                psb_outcome_error_traceback(outcome) ? psb_outcome_error_traceback(outcome) : "");
        goto out;
    }
    printf("summary (JSON from the sandbox):\n  %s\n", psb_outcome_result_json(outcome));
    psb_stats stats;
    psb_outcome_stats(outcome, &stats);
    printf("ran in %llu ms wall, %llu ms CPU, peak RSS %llu KiB\n",
           (unsigned long long)stats.wall_ms, (unsigned long long)stats.cpu_ms,
           (unsigned long long)stats.peak_rss_kib);
    printf("figures and files written to %s/:\n", out_dir);
    for (size_t i = 0; i < psb_outcome_figure_count(outcome); i++) {
        const void *data;
        size_t len;
        unsigned w, h;
        char name[64];
        psb_outcome_figure(outcome, i, &data, &len, NULL, &w, &h);
        snprintf(name, sizeof name, "figure-%zu.png", i + 1);
        if (save(out_dir, name, data, len) != 0)
            goto out;
        printf("    %ux%u PNG\n", w, h);
    }
    for (size_t i = 0; i < psb_outcome_file_count(outcome); i++) {
        const char *name;
        const void *data;
        size_t len;
        psb_outcome_file(outcome, i, &name, &data, &len);
        if (strchr(name, '/'))
            continue; /* the demo keeps to top-level files */
        if (save(out_dir, name, data, len) != 0)
            goto out;
    }
    rc = psb_outcome_figure_count(outcome) == 2 ? 0 : 1;
    goto out;
fail:
    fprintf(stderr, "pysandbox: %s\n", err.message);
out:
    psb_outcome_free(outcome);
    psb_exec_options_free(opts);
    psb_sandbox_free(sb);
    psb_config_free(config);
    return rc;
}
