/*
 * bench/workloads.c - what pysandbox-bench runs and how: the Python
 * workloads every method runs, the names of the methods and their order in
 * the table.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

/* Result cap for the large-list workloads. */
#define BIG_RESULT_LIMIT_BYTES ((uint64_t)64 << 20)

static const bench_workload WORKLOADS[] = {
    {"trivial", "result = 1 + 1", 0, 0},
    {"numpy-mean",
     "import numpy as np; result = float(np.random.default_rng(1).random(1000).mean())", 0, 0},
    {"pandas-groupby",
     "import numpy as np\n"
     "import pandas as pd\n"
     "rng = np.random.default_rng(1)\n"
     "df = pd.DataFrame({'key': np.arange(1000) % 10, 'value': rng.random(1000)})\n"
     "g = df.groupby('key')['value'].agg(['mean', 'sum', 'count'])\n"
     "result = {str(k): [float(r['mean']), float(r['sum']), int(r['count'])]\n"
     "          for k, r in g.iterrows()}\n",
     0, 0},
    {"matplotlib-png",
     "import matplotlib\n"
     "matplotlib.use('Agg')\n"
     "import matplotlib.pyplot as plt\n"
     "xs = list(range(200))\n"
     "plt.plot(xs, [x * x for x in xs])\n"
     "plt.title('squares')\n"
     "plt.savefig('plot.png')\n"
     "plt.close('all')\n"
     "result = 'plot.png'\n",
     0, 0},
    {"tolist-100k", "import numpy as np; result = np.arange(1e5).tolist()", 1,
     BIG_RESULT_LIMIT_BYTES},
    {"tolist-1m", "import numpy as np; result = np.arange(1e6).tolist()", 1,
     BIG_RESULT_LIMIT_BYTES},
};
_Static_assert(sizeof WORKLOADS / sizeof WORKLOADS[0] == BENCH_N_WORKLOADS,
               "BENCH_N_WORKLOADS must be the length of WORKLOADS");

const bench_workload *const bench_workloads = WORKLOADS;

const char *const bench_method_names[BENCH_M__COUNT] = {
    "pysandbox-warm", "pysandbox-cold",          "subprocess",
    "bwrap",          "pysandbox-warm-2threads", "pysandbox-cold-2threads",
    "pysandbox-run",  "pysandbox-run-connect",   "pysandbox-session-cell",
};

const char *const bench_table_method_order[BENCH_M__COUNT] = {
    "pysandbox-session-cell",
    "pysandbox-warm",
    "pysandbox-warm-2threads",
    "pysandbox-cold",
    "pysandbox-cold-2threads",
    "pysandbox-run-connect",
    "pysandbox-run",
    "subprocess",
    "bwrap",
};

bench_row bench_row_for(const bench_workload *w, bench_method m) {
    bench_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.workload, sizeof row.workload, "%s", w->name);
    snprintf(row.method, sizeof row.method, "%s", bench_method_names[m]);
    row.peak_rss_known = 1;
    return row;
}
