/*
 * install.c - `pysandbox kernel install`: writes a kernelspec (kernel.json)
 * where Jupyter looks for one, so that "Python (pysandbox)" is listed and
 * started as `pysandbox kernel -f {connection_file}` with the flags given.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jupyter/jupyter.h"

static const char install_help[] =
    "Usage: " CLI_PROG " kernel install [--user | --prefix DIR] [OPTIONS]\n"
    "\n"
    "Writes a Jupyter kernelspec for `" CLI_PROG " kernel`:\n"
    "  (default)      /usr/local/share/jupyter/kernels/NAME\n"
    "  --user         $JUPYTER_DATA_DIR/kernels/NAME, or ~/.local/share/jupyter/kernels/NAME\n"
    "  --prefix DIR   DIR/share/jupyter/kernels/NAME (a virtualenv's, or a test's)\n"
    "\n"
    "  --name NAME             the kernelspec's name (default pysandbox)\n"
    "  --display-name TEXT     what Jupyter lists (default \"Python (pysandbox)\")\n"
    "  --interrupt-mode MODE   message (default) or signal\n"
    "  --policy NAME|FILE      passed to the kernel (a file by its absolute path)\n"
    "  --timeout SECONDS, --cpu-seconds N, --memory-mb N, --cold\n"
    "                          passed to the kernel (see '" CLI_PROG " kernel --help')\n"
    "  --help                  show this help and exit\n";

/* mkdir -p. 0, or -1 with errno. */
static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static bool name_valid(const char *n) {
    if (!n[0] || strlen(n) > 64)
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

/* Writes doc to dir/kernel.json through a temporary file. 0, or -1 with a message. */
static int write_spec(const char *dir, const char *name, json_t *doc) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/kernel.json", dir);
    snprintf(tmp, sizeof tmp, "%s/.kernel.json.%ld", dir, (long)getpid());
    if (json_dump_file(doc, tmp, JSON_INDENT(1)) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, CLI_PROG " kernel install: error: writing %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    printf("Installed kernelspec %s in %s\n", name, dir);
    return 0;
}

enum {
    O_USER = 256,
    O_PREFIX,
    O_NAME,
    O_DISPLAY,
    O_MODE,
    O_POLICY,
    O_TIMEOUT,
    O_CPU,
    O_MEM,
    O_COLD
};

/* What the flags say so far. */
struct spec {
    const char *prefix, *name, *display, *mode;
    bool user;
    json_t *argv;          /* the kernel's command line */
    char policy[PATH_MAX]; /* a policy file's absolute path */
};

/* Takes one flag. NULL, or what is wrong with it. */
static const char *take_flag(struct spec *sp, int c, const char *arg) {
    uint64_t v = 0;
    if (c == O_USER) {
        sp->user = true;
    } else if (c == O_PREFIX) {
        sp->prefix = arg;
    } else if (c == O_NAME) {
        sp->name = arg;
        if (!name_valid(arg))
            return "--name: letters, digits, '.', '_' and '-' only (1..64)";
    } else if (c == O_DISPLAY) {
        sp->display = arg;
    } else if (c == O_MODE) {
        sp->mode = arg;
        if (strcmp(arg, "message") != 0 && strcmp(arg, "signal") != 0)
            return "--interrupt-mode: message or signal";
    } else if (c == O_POLICY) {
        /* A file is named by its absolute path: Jupyter starts the kernel anywhere. */
        if (strchr(arg, '/') || access(arg, F_OK) == 0) {
            if (!realpath(arg, sp->policy))
                return "--policy: the file does not exist";
            arg = sp->policy;
        }
        json_array_append_new(sp->argv, json_string("--policy"));
        json_array_append_new(sp->argv, json_string(arg));
    } else if (c == O_TIMEOUT || c == O_CPU || c == O_MEM) {
        bool ok = c == O_TIMEOUT ? cli_parse_seconds_ms(arg, &v) == CLI_NUM_OK && v > 0
                                 : cli_parse_u64(arg, &v) == CLI_NUM_OK && v > 0;
        if (!ok)
            return "--timeout, --cpu-seconds and --memory-mb take a positive number";
        json_array_append_new(sp->argv, json_string(c == O_TIMEOUT ? "--timeout"
                                                    : c == O_CPU   ? "--cpu-seconds"
                                                                   : "--memory-mb"));
        json_array_append_new(sp->argv, json_string(arg));
    } else if (c == O_COLD) {
        json_array_append_new(sp->argv, json_string("--cold"));
    } else {
        return "unknown option, or an option without its value";
    }
    return NULL;
}

/* The kernelspec's directory. */
static void spec_dir(const struct spec *sp, char *dir, size_t size) {
    const char *data = getenv("JUPYTER_DATA_DIR"), *home = getenv("HOME");
    if (sp->prefix)
        snprintf(dir, size, "%s/share/jupyter/kernels/%s", sp->prefix, sp->name);
    else if (sp->user && data && data[0])
        snprintf(dir, size, "%s/kernels/%s", data, sp->name);
    else if (sp->user)
        snprintf(dir, size, "%s/.local/share/jupyter/kernels/%s", home ? home : "", sp->name);
    else
        snprintf(dir, size, "/usr/local/share/jupyter/kernels/%s", sp->name);
}

int jk_cmd_install(int argc, char **argv) {
    static const struct option opts[] = {
        {"user", no_argument, NULL, O_USER},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"name", required_argument, NULL, O_NAME},
        {"display-name", required_argument, NULL, O_DISPLAY},
        {"interrupt-mode", required_argument, NULL, O_MODE},
        {"policy", required_argument, NULL, O_POLICY},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"cpu-seconds", required_argument, NULL, O_CPU},
        {"memory-mb", required_argument, NULL, O_MEM},
        {"cold", no_argument, NULL, O_COLD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct spec sp = {.name = "pysandbox", .display = "Python (pysandbox)", .mode = "message"};
    char self[PATH_MAX];
    sp.argv = json_array();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !sp.argv) {
        fprintf(stderr, CLI_PROG " kernel install: error: cannot find this executable\n");
        json_decref(sp.argv);
        return CLI_EXIT_INTERNAL;
    }
    self[n] = '\0';
    json_array_append_new(sp.argv, json_string(self));
    json_array_append_new(sp.argv, json_string("kernel"));
    json_array_append_new(sp.argv, json_string("-f"));
    json_array_append_new(sp.argv, json_string("{connection_file}"));
    optind = 0;
    opterr = 0;
    int c;
    const char *bad = NULL;
    while (!bad && (c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(install_help, stdout);
            json_decref(sp.argv);
            return CLI_EXIT_OK;
        }
        bad = take_flag(&sp, c, optarg);
    }
    if (!bad && optind < argc)
        bad = "unexpected argument";
    if (!bad && sp.user && sp.prefix)
        bad = "--user and --prefix exclude each other";
    if (bad) {
        fprintf(stderr,
                CLI_PROG " kernel install: error: %s\nTry '" CLI_PROG
                         " kernel install --help' for more information.\n",
                bad);
        json_decref(sp.argv);
        return CLI_EXIT_USAGE;
    }
    char dir[PATH_MAX];
    spec_dir(&sp, dir, sizeof dir);
    json_t *doc =
        json_pack("{s:o,s:s,s:s,s:s,s:{s:b}}", "argv", sp.argv, "display_name", sp.display,
                  "language", "python", "interrupt_mode", sp.mode, "metadata", "debugger", 0);
    int rc = CLI_EXIT_INTERNAL;
    if (!doc)
        fprintf(stderr, CLI_PROG " kernel install: error: out of memory\n");
    else if (make_dirs(dir) != 0)
        fprintf(stderr, CLI_PROG " kernel install: error: creating %s: %s\n", dir, strerror(errno));
    else
        rc = write_spec(dir, sp.name, doc) == 0 ? CLI_EXIT_OK : CLI_EXIT_INTERNAL;
    json_decref(doc);
    return rc;
}
