/*
 * host/layer_install.c - phase one of a module layer: pip installs into a
 * new generation of the layer from inside a sandbox whose only writable
 * places are that generation and its scratch dir (pyshim/host/
 * layer_install.py runs there). The library checks what the child left,
 * makes it the host user's, and switches the layer to it; on any failure
 * the generation is thrown away and the layer stays as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "psb_hostshim_sources.h"

/* Most sources one install takes. */
#define MAX_SOURCES 64

/* What an install reads and runs, sorted out of its sources. */
struct plan {
    json_t *wheels;       /* wheel files given by path */
    json_t *links;        /* --find-links dirs */
    json_t *requirements; /* names (and versions) to resolve */
    json_t *readable;     /* what the sandbox may read beyond the default policy */
    json_t *dir_wheels;   /* the wheels of the dirs given */
};

/* A requirement as pip takes it on its command line: "name", "name==1.0", "name[extra]>=2". */
static bool requirement_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 200 ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    return strspn(s,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-[],<>=!~*+") ==
           n;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A directory of wheels: each is a candidate, and installed when no name is asked for. */
static psb_status add_dir(struct plan *p, const char *dir, psb_error *err) {
    static const char *const source_tree[] = {"pyproject.toml", "setup.py", "setup.cfg"};
    for (size_t i = 0; i < sizeof source_tree / sizeof source_tree[0]; i++) {
        char f[PATH_MAX];
        snprintf(f, sizeof f, "%s/%s", dir, source_tree[i]);
        if (access(f, F_OK) == 0)
            return psb__err(err, PSB_EINVAL,
                            "%s is a source tree (it has %s): build a wheel from it first "
                            "(pip wheel --no-deps --no-build-isolation %s) and install that",
                            dir, source_tree[i], dir);
    }
    DIR *d = opendir(dir);
    if (!d)
        return psb__err(err, PSB_EINVAL, "cannot read %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)))
        if (ends_with(de->d_name, ".whl") && de->d_name[0] != '.') {
            char f[PATH_MAX];
            snprintf(f, sizeof f, "%s/%s", dir, de->d_name);
            json_array_append_new(p->dir_wheels, json_string(f));
        }
    closedir(d);
    json_array_append_new(p->links, json_string(dir));
    json_array_append_new(p->readable, json_string(dir));
    return PSB_OK;
}

/* Sorts the sources into the plan: paths (wheels, dirs of wheels) and requirement names. */
static psb_status plan_sources(struct plan *p, const char *const *sources, size_t count,
                               psb_error *err) {
    if (count > MAX_SOURCES)
        return psb__err(err, PSB_EINVAL, "at most %d sources per install", MAX_SOURCES);
    for (size_t i = 0; i < count; i++) {
        const char *s = sources[i];
        char abs[PATH_MAX];
        struct stat st;
        if (!s || !s[0])
            return psb__err(err, PSB_EINVAL, "source %zu is empty", i + 1);
        if (!strchr(s, '/') && !ends_with(s, ".whl") && access(s, F_OK) != 0) {
            if (!requirement_valid(s))
                return psb__err(err, PSB_EINVAL,
                                "'%s' is neither a file, a directory nor a requirement "
                                "(name[extras][==version])",
                                s);
            json_array_append_new(p->requirements, json_string(s));
            continue;
        }
        if (!realpath(s, abs) || stat(abs, &st) != 0)
            return psb__err(err, PSB_EINVAL, "cannot use '%s': %s", s, strerror(errno));
        if (S_ISDIR(st.st_mode)) {
            psb_status rc = add_dir(p, abs, err);
            if (rc)
                return rc;
        } else if (S_ISREG(st.st_mode) && ends_with(abs, ".whl")) {
            json_array_append_new(p->wheels, json_string(abs));
            json_array_append_new(p->readable, json_string(abs));
            *strrchr(abs, '/') = '\0';
            json_array_append_new(p->links, json_string(abs[0] ? abs : "/"));
            json_array_append_new(p->readable, json_string(abs[0] ? abs : "/"));
        } else {
            return psb__err(err, PSB_EINVAL, "'%s' is not a wheel (.whl) or a directory of wheels",
                            s);
        }
    }
    if (!json_array_size(p->requirements))
        json_array_extend(p->wheels, p->dir_wheels);
    if (!json_array_size(p->wheels) && !json_array_size(p->requirements))
        return psb__err(err, PSB_EINVAL, "nothing to install: no wheel and no requirement");
    return PSB_OK;
}

/*
 * The install's own policy: the default preset, reading the sources, the
 * current generation and what pip reads of the system; with the network
 * only for an index.
 */
static psb_status install_policy(const psb_config *config, const struct plan *p, const char *old,
                                 bool network, psb__policy *ret, psb_error *err) {
    static const char *const system[] = {"/etc/os-release", "/usr/lib/os-release",
                                         "/etc/debian_version"};
    static const char *const net_files[] = {
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
        "/etc/gai.conf",    "/etc/ssl",   "/usr/lib/ssl"};
    psb__policy base;
    psb_status st = psb__policy_load("default", &base, err);
    if (st)
        return st;
    json_t *doc = base.doc, *readable = json_object_get(doc, "readable_paths");
    for (size_t i = 0; i < sizeof system / sizeof system[0]; i++)
        json_array_append_new(readable, json_string(system[i]));
    for (size_t i = 0; network && i < sizeof net_files / sizeof net_files[0]; i++)
        json_array_append_new(readable, json_string(net_files[i]));
    json_array_extend(readable, p->readable);
    if (old)
        json_array_append_new(readable, json_string(old));
    if (network) { /* pip's own connections, to the index the caller named */
        json_t *events = json_object_get(doc, "denied_events");
        for (size_t i = json_array_size(events); i-- > 0;) {
            const char *e = json_string_value(json_array_get(events, i));
            if (strcmp(e, "socket.*") == 0 || strcmp(e, "http.client.connect") == 0 ||
                strcmp(e, "urllib.Request") == 0)
                json_array_remove(events, i);
        }
    }
    json_object_set(doc, "network", json_boolean(network));
    json_object_set(doc, "run_as", json_object_get(config->policy.doc, "run_as"));
    json_object_set(doc, "require", json_object_get(config->policy.doc, "require"));
    base.limits.v[PSB__LIMIT_TIMEOUT_MS] = 600000;
    base.limits.v[PSB__LIMIT_CPU_S] = 600;
    base.limits.v[PSB__LIMIT_MEMORY_MIB] = 2048;
    base.limits.v[PSB__LIMIT_FILE_SIZE_MIB] = 1024;
    base.limits.v[PSB__LIMIT_OPEN_FILES] = 1024;
    snprintf(base.name, sizeof base.name, "layer-install");
    *ret = base;
    return PSB_OK;
}

/* An entry the child left: a directory or a regular file, the host user's, no special bits. */
static int adopt_entry(int dirfd, const char *name, const struct stat *st) {
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
        errno = EPERM; /* links, devices, fifos and sockets have no place in a layer */
        return -1;
    }
    if (st->st_uid != geteuid() &&
        fchownat(dirfd, name, geteuid(), getegid(), AT_SYMLINK_NOFOLLOW) != 0)
        return -1;
    mode_t mode = S_ISDIR(st->st_mode) || (st->st_mode & 0111) ? 0755 : 0644;
    return fchmodat(dirfd, name, mode, 0);
}

/* Adopts every entry below dirfd (closed here). 0, or -1 with errno. */
static int adopt_dir(int dirfd, int depth, size_t *entries) {
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name;
        struct stat st;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (++*entries > 1000000 || depth > PSB__TREE_MAX_DEPTH ||
            fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW)) {
            rc = -1;
            errno = errno ? errno : E2BIG;
            break;
        }
        rc = adopt_entry(dirfd, n, &st);
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = sub < 0 ? -1 : adopt_dir(sub, depth + 1, entries);
        }
    }
    closedir(d);
    return rc;
}

static psb_status adopt(const char *gen, psb_error *err) {
    size_t entries = 0;
    struct stat st;
    int fd = open(gen, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || adopt_entry(AT_FDCWD, gen, &st) != 0 ||
        adopt_dir(fd, 0, &entries) != 0)
        return psb__err_sys(err, errno, "the install left something that cannot go in a layer");
    return PSB_OK;
}

/* Runs the installer in a sandbox of its own; the outcome in *ret. */
static psb_status run_install(const psb_config *config, psb__policy *policy, const json_t *args,
                              const char *gen, const psb_exec_options *user, psb_outcome **ret,
                              psb_error *err) {
    psb_sandbox *sb = NULL;
    psb_config *c = psb_config_new(err);
    psb_exec_options *o = psb_exec_options_new(err);
    char tmp[PATH_MAX];
    char *inputs = json_dumps(args, JSON_COMPACT);
    psb_status st = !c || !o || !inputs ? PSB_ENOMEM : PSB_OK;
    snprintf(tmp, sizeof tmp, "%s/.tmp", gen);
    if (!st) { /* the policy moves into the config */
        psb__policy_clear(&c->policy);
        c->policy = *policy;
        policy->doc = NULL;
    }
    if (!st && config->helper_path)
        st = psb_config_set_helper_path(c, config->helper_path, err);
    if (!st)
        st = psb_config_set_mode(c, PSB_MODE_COLD, err);
    if (!st && user) {
        memcpy(o->has_limit, user->has_limit, sizeof o->has_limit);
        o->limits = user->limits;
        o->cancel = user->cancel;
        o->on_output = user->on_output;
        o->on_output_user = user->on_output_user;
    }
    if (!st)
        st = psb_exec_options_set_inputs_json(o, inputs, strlen(inputs), err);
    if (!st)
        st = psb_exec_options_set_env(o, "TMPDIR", tmp, err);
    if (!st && !(o->writable = strdup(gen)))
        st = psb__err(err, PSB_ENOMEM, "out of memory");
    if (!st)
        st = psb_sandbox_new(c, &sb, err);
    if (!st) {
        const char *code = (const char *)psb_hostshim_layer_install;
        st = psb_exec(sb, code, strlen(code), o, ret, err);
    }
    psb_sandbox_free(sb);
    psb_exec_options_free(o);
    psb_config_free(c);
    free(inputs);
    return st;
}

static psb_status check_args(const psb_config *config, const char *name, const char *const *sources,
                             size_t count, const char *index_url, psb_outcome **ret,
                             psb_error *err) {
    if (!config || !ret || (count && !sources))
        return psb__err(err, PSB_EINVAL, "psb_layer_install: NULL argument");
    *ret = NULL;
    if (index_url &&
        (strncmp(index_url, "http://", 7) != 0 && strncmp(index_url, "https://", 8) != 0))
        return psb__err(err, PSB_EINVAL, "the index URL must start with http:// or https://");
    if (index_url && (strlen(index_url) > 2048 || strpbrk(index_url, " \t\r\n")))
        return psb__err(err, PSB_EINVAL, "the index URL is malformed");
    if (index_url && !json_is_true(json_object_get(config->policy.doc, "network")))
        return psb__err(err, PSB_EPOLICY,
                        "installing from an index needs the network: the sandbox's policy (%s) "
                        "has \"network\": false",
                        config->policy.name);
    return name && psb__modlayer_name_valid(name)
               ? PSB_OK
               : psb__err(err, PSB_EINVAL, "invalid layer name '%s'", name ? name : "(null)");
}

psb_status psb_layer_install(const psb_config *config, const char *name, const char *const *sources,
                             size_t count, const char *index_url, const psb_exec_options *options,
                             psb_outcome **ret_outcome, psb_error *err) {
    char root[PSB__LAYERS_ROOT_MAX], old[PATH_MAX], gen[PATH_MAX] = "";
    struct plan p = {json_array(), json_array(), json_array(), json_array(), json_array()};
    psb__policy policy = {0};
    json_t *args = NULL;
    int lock = -1;
    psb_status st = check_args(config, name, sources, count, index_url, ret_outcome, err);
    if (!st && (!p.wheels || !p.links || !p.requirements || !p.readable || !p.dir_wheels))
        st = psb__err(err, PSB_ENOMEM, "out of memory");
    if (!st)
        st = plan_sources(&p, sources, count, err);
    if (!st)
        st = psb__layers_root(config->layers_dir, root, sizeof root, err);
    if (!st) /* the layer exists (and the root is sound) before anything is made in it */
        st = psb__layer_resolve(root, name, old, sizeof old, err);
    if (!st)
        st = psb__layer_lock(root, name, &lock, err);
    if (!st) /* again: another install may have switched it while we waited */
        st = psb__layer_resolve(root, name, old, sizeof old, err);
    if (!st)
        st = psb__layer_new_gen(root, name, gen, sizeof gen, err);
    if (st)
        goto out;
    const json_t *run_as = json_object_get(config->policy.doc, "run_as");
    if (geteuid() == 0 && chown(gen, (uid_t)json_integer_value(json_object_get(run_as, "uid")),
                                (gid_t)json_integer_value(json_object_get(run_as, "gid"))) != 0) {
        st = psb__err_sys(err, errno, "cannot hand %s to the sandbox's uid", gen);
        goto out;
    }
    if ((st = install_policy(config, &p, old, index_url != NULL, &policy, err)))
        goto out;
    args = json_pack("{s:s,s:s,s:O,s:O,s:O,s:s?}", "target", gen, "old", old, "wheels", p.wheels,
                     "links", p.links, "requirements", p.requirements, "index_url", index_url);
    if (!args) {
        st = psb__err(err, PSB_ENOMEM, "out of memory");
        goto out;
    }
    st = run_install(config, &policy, args, gen, options, ret_outcome, err);
    if (!st && psb_outcome_ok(*ret_outcome) && !(st = adopt(gen, err)) &&
        !(st = psb__layer_switch(root, name, gen, err))) {
        psb__layer_gc(root, name, gen, old); /* the previous one stays for running sandboxes */
        gen[0] = '\0';
    }
    if (st) {
        psb_outcome_free(*ret_outcome);
        *ret_outcome = NULL;
    }
out:
    if (gen[0])
        (void)psb__tree_remove(gen);
    if (lock >= 0)
        close(lock);
    psb__policy_clear(&policy);
    json_decref(args);
    json_decref(p.wheels);
    json_decref(p.links);
    json_decref(p.requirements);
    json_decref(p.readable);
    json_decref(p.dir_wheels);
    return st;
}
