/*
 * host/modlayers.c - module layers on disk: directories of installed
 * packages that executions mount read-only, first on sys.path.
 *
 *   ROOT/NAME           a symlink to the layer's current generation
 *   ROOT/.NAME@XXXXXX   a generation: the site dir itself
 *   ROOT/.NAME.lock     held (flock) while the layer changes
 *
 * A change builds a new generation and switches the symlink with one
 * rename(), so a reader sees the old layer or the new one, never a mix.
 * Every path is walked with openat() and O_NOFOLLOW: nothing here follows a
 * link it did not make.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"

psb_status psb__layers_root(const char *configured, char *buf, size_t size, psb_error *err) {
    const char *env = getenv("PYSANDBOX_LAYERS"), *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (configured)
        n = snprintf(buf, size, "%s", configured);
    else if (env && env[0] == '/')
        n = snprintf(buf, size, "%s", env);
    else if (geteuid() == 0) /* a root host's children run as another uid: not below /root */
        n = snprintf(buf, size, "/var/lib/pysandbox/layers");
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/pysandbox/layers", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.local/share/pysandbox/layers", home);
    else
        return psb__err(err, PSB_EINVAL,
                        "no layers dir: set one (psb_config_set_layers_dir, --layers-dir, "
                        "$PYSANDBOX_LAYERS) or $HOME");
    if (n < 0 || (size_t)n >= size)
        return psb__err(err, PSB_EINVAL, "the layers dir path is too long");
    if (strncmp(buf, "/tmp/", 5) == 0 || strcmp(buf, "/tmp") == 0)
        return psb__err(err, PSB_EINVAL,
                        "the layers dir %s is under /tmp, which executions do not see (each "
                        "sandbox has a private /tmp): choose another place",
                        buf);
    return PSB_OK;
}

/* The root must be ours and writable by no one else: a layer is code every execution trusts. */
static psb_status root_check(const char *root, psb_error *err) {
    struct stat st;
    if (lstat(root, &st) != 0)
        return psb__err_sys(err, errno, "layers dir %s", root);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
        return psb__err(err, PSB_EINVAL,
                        "layers dir %s must be a directory owned by this user that no one else "
                        "can write",
                        root);
    /* A root host's children read layers as another uid: every dir on the way must let them. */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", root);
    /* The root itself, then each parent up to (not including) "/". */
    for (char *s = p + strlen(p); geteuid() == 0 && s > p; s = strrchr(p, '/')) {
        *s = '\0';
        if (stat(p, &st) != 0 || !(st.st_mode & S_IXOTH))
            return psb__err(err, PSB_EINVAL,
                            "%s is not searchable by others (mode %03o), so the sandbox's uid "
                            "cannot reach the layers dir %s",
                            p, (unsigned)(st.st_mode & 0777), root);
    }
    return PSB_OK;
}

static psb_status name_check(const char *name, psb_error *err) {
    if (!name || !psb__modlayer_name_valid(name))
        return psb__err(err, PSB_EINVAL,
                        "invalid layer name '%s': 1 to %d letters, digits, '_' and '-', starting "
                        "with a letter or digit",
                        name ? name : "(null)", PSB__MAX_MODLAYER_NAME);
    return PSB_OK;
}

psb_status psb__layer_resolve(const char *root, const char *name, char *buf, size_t size,
                              psb_error *err) {
    char link[PATH_MAX], target[PATH_MAX];
    psb_status st = name_check(name, err);
    if (st || (st = root_check(root, err)))
        return st;
    snprintf(link, sizeof link, "%s/%s", root, name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return errno == ENOENT ? psb__err(err, PSB_EINVAL,
                                          "no module layer named '%s' in %s (create it with "
                                          "`pysandbox layer create %s`)",
                                          name, root, name)
                               : psb__err_sys(err, errno, "module layer %s", link);
    target[n] = '\0';
    /* Only a generation of this layer, beside the link. */
    size_t len = strlen(name);
    if ((size_t)n != len + 8 || target[0] != '.' || strncmp(target + 1, name, len) != 0 ||
        target[len + 1] != '@')
        return psb__err(err, PSB_EINVAL, "module layer %s points outside the layers dir", link);
    if (snprintf(buf, size, "%s/%s", root, target) >= (int)size)
        return psb__err(err, PSB_EINVAL, "the layer path is too long");
    return PSB_OK;
}

psb_status psb__sites_add(const char *root, const json_t *names, json_t *sites, psb_error *err) {
    size_t i;
    json_t *e;
    json_array_foreach(names, i, e) {
        char dir[PATH_MAX];
        psb_status st = psb__layer_resolve(root, json_string_value(e), dir, sizeof dir, err);
        if (st)
            return st;
        bool seen = false;
        size_t j;
        json_t *s;
        json_array_foreach(sites, j, s) {
            seen = seen || strcmp(json_string_value(s), dir) == 0;
        }
        if (seen)
            continue;
        if (json_array_size(sites) >= PSB__MAX_MODLAYERS)
            return psb__err(err, PSB_EINVAL, "at most %d module layers per execution",
                            PSB__MAX_MODLAYERS);
        if (json_array_append_new(sites, json_string(dir)) != 0)
            return psb__err(err, PSB_ENOMEM, "out of memory");
    }
    return PSB_OK;
}

/* Removes the entries of the directory dirfd (closed here), depth levels deep at most. */
static int clear_dir(int dirfd, int depth) {
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (unlinkat(dirfd, n, 0) == 0)
            continue;
        int sub = errno == EISDIR && depth < PSB__TREE_MAX_DEPTH
                      ? openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                      : -1;
        if (sub < 0 || clear_dir(sub, depth + 1) != 0 || unlinkat(dirfd, n, AT_REMOVEDIR) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int psb__tree_remove(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    /* A child may have taken away its own rights on what it made. */
    if (clear_dir(fd, 0) != 0) {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && clear_dir(fd, 0) != 0)
            return -1;
    }
    return rmdir(path);
}

psb_status psb__layer_lock(const char *root, const char *name, int *ret_fd, psb_error *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.%s.lock", root, name);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return psb__err_sys(err, errno, "cannot open %s", path);
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return psb__err_sys(err, e, "cannot lock %s", path);
        }
    }
    *ret_fd = fd;
    return PSB_OK;
}

void psb__layer_gc(const char *root, const char *name, const char *keep1, const char *keep2) {
    DIR *d = opendir(root);
    if (!d)
        return;
    size_t len = strlen(name);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strlen(n) != len + 8 || n[0] != '.' || strncmp(n + 1, name, len) != 0 ||
            n[len + 1] != '@')
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", root, n);
        if ((keep1 && strcmp(path, keep1) == 0) || (keep2 && strcmp(path, keep2) == 0))
            continue;
        (void)psb__tree_remove(path);
    }
    closedir(d);
}

psb_status psb__layer_new_gen(const char *root, const char *name, char *buf, size_t size,
                              psb_error *err) {
    if (snprintf(buf, size, "%s/.%s@XXXXXX", root, name) >= (int)size)
        return psb__err(err, PSB_EINVAL, "the layer path is too long");
    if (!mkdtemp(buf) || chmod(buf, 0755) != 0)
        return psb__err_sys(err, errno, "cannot create a generation of layer '%s' in %s", name,
                            root);
    return PSB_OK;
}

psb_status psb__layer_switch(const char *root, const char *name, const char *gen, psb_error *err) {
    char tmp[PATH_MAX], link[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.%s.switch", root, name);
    snprintf(link, sizeof link, "%s/%s", root, name);
    const char *base = strrchr(gen, '/') + 1;
    unlink(tmp); /* a switch that died half-way; we hold the lock */
    if (symlink(base, tmp) != 0)
        return psb__err_sys(err, errno, "cannot switch layer '%s'", name);
    if (rename(tmp, link) != 0) {
        int e = errno;
        unlink(tmp);
        return psb__err_sys(err, e, "cannot switch layer '%s'", name);
    }
    return PSB_OK;
}

/* Makes each missing directory of path (0755: executions read layers as another uid). */
static psb_status make_root(const char *root, psb_error *err) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", root);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return psb__err_sys(err, errno, "cannot create %s", p);
        *s = c;
        if (!c)
            return root_check(root, err);
    }
}

/* The root of a config, made if missing and checked; and the layer's lock. */
static psb_status open_layer(const psb_config *config, const char *name, bool make, char *root,
                             int *ret_lock, psb_error *err) {
    if (!config)
        return psb__err(err, PSB_EINVAL, "NULL config");
    psb_status st = name_check(name, err);
    if (!st)
        st = psb__layers_root(config->layers_dir, root, PSB__LAYERS_ROOT_MAX, err);
    if (!st)
        st = make ? make_root(root, err) : root_check(root, err);
    return st ? st : psb__layer_lock(root, name, ret_lock, err);
}

psb_status psb_layer_create(const psb_config *config, const char *name, psb_error *err) {
    char root[PSB__LAYERS_ROOT_MAX], gen[PATH_MAX], link[PATH_MAX];
    int lock = -1;
    psb_status st = open_layer(config, name, true, root, &lock, err);
    if (st)
        return st;
    snprintf(link, sizeof link, "%s/%s", root, name);
    struct stat sb;
    if (lstat(link, &sb) == 0)
        st = psb__err(err, PSB_EINVAL, "module layer '%s' already exists in %s", name, root);
    else if (!(st = psb__layer_new_gen(root, name, gen, sizeof gen, err)) &&
             (st = psb__layer_switch(root, name, gen, err)))
        (void)psb__tree_remove(gen);
    close(lock);
    return st;
}

psb_status psb_layer_remove(const psb_config *config, const char *name, psb_error *err) {
    char root[PSB__LAYERS_ROOT_MAX], gen[PATH_MAX], link[PATH_MAX], lockpath[PATH_MAX];
    int lock = -1;
    psb_status st = open_layer(config, name, false, root, &lock, err);
    if (st)
        return st;
    if (!(st = psb__layer_resolve(root, name, gen, sizeof gen, err))) {
        snprintf(link, sizeof link, "%s/%s", root, name);
        if (unlink(link) != 0)
            st = psb__err_sys(err, errno, "cannot remove %s", link);
        else
            psb__layer_gc(root, name, NULL, NULL);
    }
    snprintf(lockpath, sizeof lockpath, "%s/.%s.lock", root, name);
    if (!st)
        unlink(lockpath);
    close(lock);
    return st;
}

/* The distributions in a site dir, from its NAME-VERSION.dist-info dirs, sorted. */
static json_t *packages_of(const char *dir) {
    json_t *out = json_array();
    DIR *d = opendir(dir);
    struct dirent *de;
    while (out && d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        const char *dash = strchr(de->d_name, '-');
        if (n < 11 || strcmp(de->d_name + n - 10, ".dist-info") != 0 || !dash)
            continue;
        json_array_append_new(out, json_pack("{s:s%,s:s%}", "name", de->d_name,
                                             (size_t)(dash - de->d_name), "version", dash + 1,
                                             (size_t)(de->d_name + n - 10 - dash - 1)));
    }
    if (d)
        closedir(d);
    /* By name: readdir's order is the file system's. */
    size_t n = json_array_size(out);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(out, j - 1), *b = json_array_get(out, j);
            if (strcmp(json_string_value(json_object_get(a, "name")),
                       json_string_value(json_object_get(b, "name"))) <= 0)
                break;
            json_incref(a);
            json_array_set(out, j - 1, b);
            json_array_set_new(out, j, a);
        }
    return out;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *psb_layer_list_json(const psb_config *config, psb_error *err) {
    char root[PSB__LAYERS_ROOT_MAX];
    if (!config) {
        psb__err(err, PSB_EINVAL, "psb_layer_list_json: NULL config");
        return NULL;
    }
    if (psb__layers_root(config->layers_dir, root, sizeof root, err))
        return NULL;
    json_t *list = json_array();
    char *names[1024];
    size_t n = 0;
    DIR *d = opendir(root);
    if (!d && errno != ENOENT) {
        psb__err_sys(err, errno, "cannot read layers dir %s", root);
        json_decref(list);
        return NULL;
    }
    struct dirent *de;
    while (d && n < sizeof names / sizeof names[0] && (de = readdir(d)))
        if (psb__modlayer_name_valid(de->d_name) && de->d_type == DT_LNK)
            names[n++] = strdup(de->d_name);
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        if (names[i] && list && !psb__layer_resolve(root, names[i], dir, sizeof dir, NULL))
            json_array_append_new(list, json_pack("{s:s,s:s,s:o}", "name", names[i], "path", dir,
                                                  "packages", packages_of(dir)));
        free(names[i]);
    }
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (!text)
        psb__err(err, PSB_ENOMEM, "out of memory");
    return text;
}
