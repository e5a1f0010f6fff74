/*
 * hooks/paths.c - path resolution and prefix sets for the audit hook, and
 * the classification of frames for the import filter. No Python here, so it
 * is unit-tested on its own.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hooks.h"

void psb__path_normalize(char *path) {
    /* path is absolute; rebuild it component by component in place. */
    char *out = path;
    const char *p = path;
    size_t len = 0;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (n == 1 && start[0] == '.'))
            continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* drop the slash too */
            continue;
        }
        out[len++] = '/';
        memmove(out + len, start, n);
        len += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
}

int psb__path_resolve(const char *path, char *out, size_t out_size) {
    char joined[PATH_MAX * 2];
    if (path[0] == '/') {
        if (strlen(path) >= sizeof joined)
            return -1;
        strcpy(joined, path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", cwd, path) >= sizeof joined)
            return -1;
    }
    psb__path_normalize(joined);
    char real[PATH_MAX];
    if (realpath(joined, real)) {
        if (strlen(real) >= out_size)
            return -1;
        strcpy(out, real);
        return 0;
    }
    /* Not there (yet): resolve the parent and append the last component. */
    char *slash = strrchr(joined, '/');
    const char *base = slash + 1;
    char parent[PATH_MAX * 2];
    size_t plen = (size_t)(slash - joined);
    memcpy(parent, joined, plen);
    parent[plen] = '\0';
    if (plen && realpath(parent, real)) {
        if ((size_t)snprintf(out, out_size, "%s/%s", strcmp(real, "/") ? real : "", base) >=
            out_size)
            return -1;
        return 0;
    }
    if (strlen(joined) >= out_size)
        return -1;
    strcpy(out, joined);
    return 0;
}

int psb__pathset_add(psb__pathset *set, const char *path) {
    char resolved[PATH_MAX];
    if (path[0] != '/' || psb__path_resolve(path, resolved, sizeof resolved) != 0)
        return -1;
    size_t len = strlen(resolved);
    while (len > 1 && resolved[len - 1] == '/')
        resolved[--len] = '\0';
    if (psb__pathset_contains(set, resolved))
        return 0;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        char **p = realloc(set->paths, cap * sizeof *p);
        if (!p)
            return -1;
        set->paths = p;
        set->cap = cap;
    }
    if (!(set->paths[set->n] = strdup(resolved)))
        return -1;
    set->n++;
    return 0;
}

bool psb__pathset_contains(const psb__pathset *set, const char *abs_path) {
    for (size_t i = 0; i < set->n; i++) {
        const char *pre = set->paths[i];
        size_t n = strlen(pre);
        if (strcmp(pre, "/") == 0)
            return true;
        if (strncmp(abs_path, pre, n) == 0 && (abs_path[n] == '\0' || abs_path[n] == '/'))
            return true;
    }
    return false;
}

void psb__pathset_clear(psb__pathset *set) {
    for (size_t i = 0; i < set->n; i++)
        free(set->paths[i]);
    free(set->paths);
    set->paths = NULL;
    set->n = set->cap = 0;
}

/* The hooks' state: plain C, shared by audit.c and importfilter.c. */
struct psb__hooks_state psb__hooks;

int psb__hooks_set_paths(const json_t *readable_paths, const char *scratch) {
    if (psb__hooks.paths_set)
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(readable_paths, i, e) {
        psb__pathset_add(&psb__hooks.readable, json_string_value(e));
    }
    if (psb__pathset_add(&psb__hooks.writable, scratch) != 0)
        return -1;
    psb__hooks.paths_set = true;
    return 0;
}

int psb__hooks_add_readable(const char *path) {
    return psb__pathset_add(&psb__hooks.readable, path);
}

psb__frame_class psb__frame_classify(const char *filename, const psb__pathset *trusted,
                                     const psb__pathset *transparent) {
    if (strncmp(filename, "<pysandbox", 10) == 0 ||
        strncmp(filename, "<frozen importlib", 17) == 0 ||
        strncmp(filename, "<frozen zipimport", 17) == 0)
        return PSB__FRAME_TRANSPARENT;
    if (strncmp(filename, "<frozen ", 8) == 0)
        return PSB__FRAME_TRUSTED;
    if (filename[0] != '/' || strstr(filename, "/../") || strstr(filename, "/./"))
        return PSB__FRAME_USER;
    if (psb__pathset_contains(transparent, filename))
        return PSB__FRAME_TRANSPARENT;
    return psb__pathset_contains(trusted, filename) ? PSB__FRAME_TRUSTED : PSB__FRAME_USER;
}
