/*
 * bench/procinfo.c - what pysandbox-bench reads from /proc: the machine's
 * CPU, cores, memory and kernel, the Python stack's versions, and the
 * resident memory of the sandbox's helper process.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/bench.h"

/* Prints the versions of the interpreter and the preloaded packages. */
static const char VERSIONS_CODE[] = "import json, sys\n"
                                    "v = {'python': sys.version.split()[0]}\n"
                                    "for m in ('numpy', 'pandas', 'matplotlib'):\n"
                                    "    try:\n"
                                    "        v[m] = __import__(m).__version__\n"
                                    "    except Exception:\n"
                                    "        v[m] = None\n"
                                    "print(json.dumps(v))\n";

/*
 * Finds the first line of `path` that starts with `key` and returns the
 * text after it (leading blanks and ':' skipped, newline cut) in buf.
 * Returns 0, or -1 when the file or the key is missing.
 */
static int read_keyed_line(const char *path, const char *key, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    char line[512];
    int rc = -1;
    size_t key_len = strlen(key);

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, key_len) != 0)
            continue;
        const char *v = line + key_len;
        while (*v == ' ' || *v == '\t' || *v == ':')
            v++;
        snprintf(buf, size, "%s", v);
        buf[strcspn(buf, "\n")] = '\0';
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

/* A "1234 kB" field of a /proc file in KiB, or -1. */
static long read_kib(const char *path, const char *key) {
    char buf[128];
    if (read_keyed_line(path, key, buf, sizeof buf) != 0)
        return -1;
    return strtol(buf, NULL, 10);
}

/* Sets key to a string, or to null when s is NULL. */
static int set_str_or_null(json_t *obj, const char *key, const char *s) {
    return json_object_set_new(obj, key, s != NULL ? json_string(s) : json_null());
}

json_t *bench_machine_info(const char *python) {
    json_t *info = json_object(), *versions = NULL;
    bench_argv argv = {0};
    char *printed = NULL;
    char buf[512];
    struct utsname uts;

    if (info == NULL)
        return NULL;
    set_str_or_null(info, "cpu_model",
                    read_keyed_line("/proc/cpuinfo", "model name", buf, sizeof buf) == 0 ? buf
                                                                                         : NULL);
    json_object_set_new(info, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    long mem = read_kib("/proc/meminfo", "MemTotal");
    json_object_set_new(info, "memory_kib", mem >= 0 ? json_integer(mem) : json_null());
    if (uname(&uts) == 0) {
        snprintf(buf, sizeof buf, "%s %s %s", uts.sysname, uts.release, uts.machine);
        json_object_set_new(info, "kernel", json_string(buf));
    } else {
        json_object_set_new(info, "kernel", json_null());
    }
    json_object_set_new(info, "python_executable", json_string(python));

    if (bench_argv_push(&argv, python) == 0 && bench_argv_push(&argv, "-I") == 0 &&
        bench_argv_push(&argv, "-c") == 0 && bench_argv_push(&argv, VERSIONS_CODE) == 0)
        printed = bench_spawn_capture(&argv);
    if (printed != NULL)
        versions = json_loads(printed, 0, NULL);
    static const char *const keys[] = {"python", "numpy", "pandas", "matplotlib"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = versions != NULL ? json_object_get(versions, keys[i]) : NULL;
        char key[32];
        snprintf(key, sizeof key, "%s_version", keys[i]);
        json_object_set(info, key, v != NULL ? v : json_null());
    }
    json_decref(versions);
    free(printed);
    bench_argv_free(&argv);
    return info;
}

/*
 * Reads the comm and parent pid of process `pid` from /proc/PID/stat.
 * Returns 0, or -1 when the process is gone or the line is malformed.
 */
static int read_stat(long pid, char *comm, size_t comm_size, long *ret_ppid) {
    char path[64], line[1024];
    FILE *f;
    int rc = -1;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof line, f) != NULL) {
        /* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
        char *open = strchr(line, '(');
        char *close = strrchr(line, ')');
        char state;
        long ppid;
        /* sscanf cannot report an overflow, but the kernel wrote the pid. */
        if (open != NULL && close != NULL && close > open &&
            sscanf(close + 1, " %c %ld", &state, &ppid) == 2) { /* NOLINT(cert-err34-c) */
            snprintf(comm, comm_size, "%.*s", (int)(close - open - 1), open + 1);
            *ret_ppid = ppid;
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

int bench_child_mem(const char *comm, bench_proc_mem *ret_mem) {
    DIR *proc = opendir("/proc");
    struct dirent *de;
    long self = (long)getpid(), best = -1;

    if (proc == NULL)
        return -1;
    while ((de = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        char name[64];
        long ppid;
        if (*end != '\0' || pid <= 0)
            continue;
        if (read_stat(pid, name, sizeof name, &ppid) == 0 && ppid == self &&
            strcmp(name, comm) == 0 && pid > best)
            best = pid;
    }
    closedir(proc);
    if (best < 0)
        return -1;

    char status_path[64], rollup_path[64];
    snprintf(status_path, sizeof status_path, "/proc/%ld/status", best);
    snprintf(rollup_path, sizeof rollup_path, "/proc/%ld/smaps_rollup", best);
    ret_mem->pid = best;
    ret_mem->vm_rss_kib = read_kib(status_path, "VmRSS");
    ret_mem->vm_hwm_kib = read_kib(status_path, "VmHWM");
    ret_mem->pss_kib = read_kib(rollup_path, "Pss:");
    return 0;
}

long bench_pid_kib(long pid, const char *file, const char *key) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
    return read_kib(path, key);
}

/* Up to max (pid, ppid) pairs of the processes now running. Returns the count. */
static size_t list_processes(long *pids, long *ppids, size_t max) {
    DIR *proc = opendir("/proc");
    struct dirent *de;
    size_t n = 0;
    if (proc == NULL)
        return 0;
    while (n < max && (de = readdir(proc)) != NULL) {
        char *end, name[64];
        long pid = strtol(de->d_name, &end, 10);
        if (*end == '\0' && pid > 0 && read_stat(pid, name, sizeof name, &ppids[n]) == 0)
            pids[n++] = pid;
    }
    closedir(proc);
    return n;
}

long bench_tree_pss_kib(long root, size_t *ret_count) {
    enum { MAX_PROCS = 8192 };
    long *pids = calloc(MAX_PROCS, sizeof *pids), *ppids = calloc(MAX_PROCS, sizeof *ppids);
    char *in = calloc(MAX_PROCS, 1);
    long total = -1;
    *ret_count = 0;
    if (pids == NULL || ppids == NULL || in == NULL)
        goto out;
    size_t n = list_processes(pids, ppids, MAX_PROCS);
    /* Marks descendants until nothing changes (parents may come after their children). */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (in[i])
                continue;
            int mine = pids[i] == root;
            for (size_t j = 0; j < n && !mine; j++)
                mine = in[j] && pids[j] == ppids[i];
            if (mine) {
                in[i] = 1;
                changed = 1;
            }
        }
    }
    total = 0;
    for (size_t i = 0; i < n; i++) {
        long pss = in[i] ? bench_pid_kib(pids[i], "smaps_rollup", "Pss:") : -1;
        if (pss >= 0) {
            total += pss;
            ++*ret_count;
        }
    }
out:
    free(pids);
    free(ppids);
    free(in);
    return total;
}
