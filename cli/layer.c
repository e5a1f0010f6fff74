/*
 * layer.c - `pysandbox layer`: module layers, directories of installed
 * packages that executions mount read-only (`run --layer NAME`). create,
 * install (pip inside a sandbox), list and remove, over the library's
 * psb_layer_* calls.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char layer_help[] =
    "Usage: " CLI_PROG " layer create NAME\n"
    "       " CLI_PROG " layer install NAME SOURCE... [--index-url URL]\n"
    "       " CLI_PROG " layer list\n"
    "       " CLI_PROG " layer remove NAME\n"
    "\n"
    "A module layer is a directory of installed packages that executions mount\n"
    "with `" CLI_PROG " run --layer NAME` (or \"layers\" in a policy or a request):\n"
    "its packages come first on sys.path, readable and never writable.\n"
    "\n"
    "install runs pip inside a sandbox whose only writable place is a new\n"
    "generation of the layer; the layer switches to it only if the install\n"
    "succeeds. A SOURCE is a wheel file (it must match the sandbox's Python),\n"
    "a directory of wheels (all installed when no name is given; dependencies\n"
    "come from it), or a requirement (name, name==1.0) found in those\n"
    "directories or the index. pip's output goes to stderr.\n"
    "\n"
    "Options:\n"
    "  --layers-dir DIR       where layers live (default: $PYSANDBOX_LAYERS, else\n"
    "                         /var/lib/pysandbox/layers for root, else\n"
    "                         $XDG_DATA_HOME/pysandbox/layers, else\n"
    "                         ~/.local/share/pysandbox/layers)\n"
    "  --index-url URL        install: resolve from this simple index (http or\n"
    "                         https; needs a --policy with \"network\": true);\n"
    "                         default: no network, local files only\n"
    "  --policy NAME|FILE     install: the policy whose network and run_as apply\n"
    "  --timeout SECONDS      install: wall-clock limit (default 600)\n"
    "  --memory-mb N          install: memory limit in MiB (default 2048)\n"
    "  --json                 print the outcome as one JSON object on stdout\n"
    "  --help                 show this help and exit\n"
    "\n";

enum { OPT_LAYERS_DIR = 256, OPT_INDEX_URL, OPT_POLICY, OPT_TIMEOUT, OPT_MEMORY, OPT_JSON };

static const struct option options[] = {
    {"layers-dir", required_argument, NULL, OPT_LAYERS_DIR},
    {"index-url", required_argument, NULL, OPT_INDEX_URL},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"memory-mb", required_argument, NULL, OPT_MEMORY},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct layer_args {
    const char *layers_dir, *index_url, *policy;
    uint64_t timeout_ms, memory_mib; /* 0: the install's defaults */
    bool json, help;
    char error[256];
};

/* A failure: a JSON object or a line on stderr. Returns rc. */
static int report_failure(const struct layer_args *a, int rc, const char *message) {
    if (a->json) {
        json_t *doc = json_pack("{s:s,s:s}", "status", "error", "message", message);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        fprintf(stderr, CLI_PROG " layer: %s\n", message);
    }
    return rc;
}

static int api_failure(const struct layer_args *a, psb_status st, const psb_error *err) {
    return report_failure(
        a, st == PSB_EINVAL || st == PSB_EPOLICY ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL,
        err->message[0] ? err->message : psb_status_str(st));
}

static void parse(int argc, char **argv, struct layer_args *a) {
    int c;
    opterr = 0;
    optind = 1;
    /* Flags may come anywhere: getopt_long moves the words to the end. */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        enum cli_num r = CLI_NUM_OK;
        switch (c) {
        case OPT_LAYERS_DIR:
            a->layers_dir = optarg;
            break;
        case OPT_INDEX_URL:
            a->index_url = optarg;
            break;
        case OPT_POLICY:
            a->policy = optarg;
            break;
        case OPT_TIMEOUT:
            r = cli_parse_seconds_ms(optarg, &a->timeout_ms);
            break;
        case OPT_MEMORY:
            r = cli_parse_u64(optarg, &a->memory_mib);
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case 'h':
            a->help = true;
            break;
        default:
            if (!a->error[0])
                snprintf(a->error, sizeof a->error, "unknown option or missing value: '%s'",
                         argv[optind - 1]);
        }
        if (r != CLI_NUM_OK && !a->error[0])
            snprintf(a->error, sizeof a->error, "%s: '%s' is not a positive number",
                     argv[optind - 1], optarg);
    }
}

/* pip's output, as it comes, on stderr (stdout stays the result's). */
static void to_stderr(void *user, int stream, const char *data, size_t len) {
    (void)user;
    (void)stream;
    (void)fwrite(data, 1, len, stderr);
}

static int install(psb_config *config, const struct layer_args *a, const char *name, char **sources,
                   size_t count) {
    psb_error err = {PSB_OK, 0, ""};
    psb_outcome *out = NULL;
    psb_exec_options *o = psb_exec_options_new(&err);
    psb_status st = o ? PSB_OK : PSB_ENOMEM;
    if (!st && a->timeout_ms)
        st = psb_exec_options_set_timeout_ms(o, a->timeout_ms, &err);
    if (!st && a->memory_mib)
        st = psb_exec_options_set_memory_limit_mib(o, a->memory_mib, &err);
    if (!st && !a->json)
        st = psb_exec_options_set_output_callback(o, to_stderr, NULL, &err);
    if (!st)
        st = psb_layer_install(config, name, (const char *const *)sources, count, a->index_url, o,
                               &out, &err);
    psb_exec_options_free(o);
    if (st)
        return api_failure(a, st, &err);
    int rc = cli_exit_for_kind(psb_outcome_ok(out) ? PSB_KIND_NONE : psb_outcome_error_kind(out));
    if (a->json) {
        printf("%s\n", psb_outcome_json(out));
    } else if (psb_outcome_ok(out)) {
        json_t *r = json_loads(psb_outcome_result_json(out), 0, NULL), *d;
        size_t i;
        json_array_foreach(json_object_get(r, "installed"), i, d) {
            printf("installed %s %s\n", json_string_value(json_object_get(d, "name")),
                   json_string_value(json_object_get(d, "version")));
        }
        json_decref(r);
    } else {
        fprintf(stderr, CLI_PROG " layer: install into '%s' failed (%s): %s\n", name,
                psb_error_kind_name(psb_outcome_error_kind(out)),
                psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "");
    }
    psb_outcome_free(out);
    return rc;
}

static int list(psb_config *config, const struct layer_args *a) {
    psb_error err = {PSB_OK, 0, ""};
    char *text = psb_layer_list_json(config, &err);
    if (!text)
        return api_failure(a, err.code, &err);
    json_t *doc = json_loads(text, 0, NULL), *l, *p;
    size_t i, j;
    if (a->json)
        printf("%s\n", text);
    json_array_foreach(a->json ? NULL : doc, i, l) {
        printf("%s", json_string_value(json_object_get(l, "name")));
        json_array_foreach(json_object_get(l, "packages"), j, p) {
            printf("%s %s==%s", j ? "," : "", json_string_value(json_object_get(p, "name")),
                   json_string_value(json_object_get(p, "version")));
        }
        printf("\n");
    }
    json_decref(doc);
    free(text);
    return CLI_EXIT_OK;
}

/* create and remove: the name, then a line (or a JSON object) saying it is done. */
static int create_or_remove(psb_config *config, const struct layer_args *a, bool create,
                            const char *name) {
    psb_error err = {PSB_OK, 0, ""};
    psb_status st =
        create ? psb_layer_create(config, name, &err) : psb_layer_remove(config, name, &err);
    if (st)
        return api_failure(a, st, &err);
    if (a->json)
        printf("{\"status\":\"ok\"}\n");
    else
        printf("%s layer '%s'\n", create ? "created" : "removed", name);
    return CLI_EXIT_OK;
}

int cli_cmd_layer(int argc, char **argv) {
    struct layer_args a = {0};
    parse(argc, argv, &a);
    if (a.help) {
        fputs(layer_help, stdout);
        return CLI_EXIT_OK;
    }
    char **words = argv + optind;
    int n = argc - optind;
    const char *verb = n > 0 ? words[0] : "";
    if (a.error[0])
        return report_failure(&a, CLI_EXIT_USAGE, a.error);
    static const struct {
        const char *verb;
        int min, max; /* words after the verb */
    } verbs[] = {{"create", 1, 1}, {"install", 2, 1 + 64}, {"list", 0, 0}, {"remove", 1, 1}};
    size_t v = 0;
    while (v < sizeof verbs / sizeof verbs[0] && strcmp(verbs[v].verb, verb) != 0)
        v++;
    char msg[160];
    if (v == sizeof verbs / sizeof verbs[0]) {
        snprintf(msg, sizeof msg, "%s%s%s (create, install, list, remove; see --help)",
                 n ? "unknown command '" : "a command is needed", n ? verb : "", n ? "'" : "");
        return report_failure(&a, CLI_EXIT_USAGE, msg);
    }
    if (n - 1 < verbs[v].min || n - 1 > verbs[v].max) {
        snprintf(msg, sizeof msg, "layer %s takes %s (see --help)", verb,
                 verbs[v].min == 0   ? "no arguments"
                 : verbs[v].max == 1 ? "a layer NAME"
                                     : "a layer NAME and at most 64 SOURCEs");
        return report_failure(&a, CLI_EXIT_USAGE, msg);
    }
    psb_error err = {PSB_OK, 0, ""};
    psb_config *config = psb_config_new(&err);
    psb_status st = config ? PSB_OK : PSB_ENOMEM;
    if (!st && a.layers_dir)
        st = psb_config_set_layers_dir(config, a.layers_dir, &err);
    if (!st && a.policy)
        st = psb_config_set_policy(config, a.policy, &err);
    if (!st && getenv("PYSANDBOX_HELPER") == NULL && cli_helper_path())
        st = psb_config_set_helper_path(config, cli_helper_path(), &err);
    int rc;
    if (st)
        rc = api_failure(&a, st, &err);
    else if (v == 0 || v == 3)
        rc = create_or_remove(config, &a, v == 0, words[1]);
    else if (v == 1)
        rc = install(config, &a, words[1], words + 2, (size_t)(n - 2));
    else
        rc = list(config, &a);
    psb_config_free(config);
    return rc;
}
