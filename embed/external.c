/*
 * embed/external.c - the external-interpreter engine: each execution runs
 * a Python the host named (a venv's bin/python, another CPython) instead
 * of the embedded one, under the same kernel layers.
 *
 * In the helper, once: the interpreter is probed (its sys.path, prefixes,
 * version) so that Landlock can let it read its own libraries and execute
 * only itself and its ELF loader. In the child, after the request is in
 * and the child is confined: the request goes to a memfd (fd 4), the
 * seccomp filter that allows execve (and still no process creation) is
 * loaded, and the child execs the interpreter with pyshim/external.py,
 * which runs the code and writes the same reply frames the embedded
 * engine writes.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "embed/embed.h"

extern char **environ;

/* The pyshim modules the bootstrap runs, compiled once by the probe for this interpreter. */
static const char *const shims[] = {"support", "inputs", "display", "convert", "external"};
#define N_SHIMS (sizeof shims / sizeof shims[0])

/*
 * What the probe prints: the interpreter's own idea of where it lives, and
 * the shims' code compiled by it (marshal, as base64), so that no execution
 * compiles them again. Their sources come as its arguments.
 */
static const char probe_code[] =
    "import base64, json, marshal, sys, sysconfig\n"
    "names = ['support', 'inputs', 'display', 'convert', 'external']\n"
    "code = {n: base64.b64encode(marshal.dumps(compile(s, '<pysandbox/%s.py>' % n, 'exec')))\n"
    "        .decode() for n, s in zip(names, sys.argv[1:])}\n"
    "print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix,\n"
    "  'exec_prefix': sys.exec_prefix, 'code': code,\n"
    "  'base_prefix': sys.base_prefix, 'path': [p for p in sys.path if p.startswith('/')],\n"
    "  'stdlib': sysconfig.get_paths().get('stdlib'), 'version': list(sys.version_info[:2])}))\n";

/* Runs the probe with a 10 s deadline; its output (malloc'd), or NULL with msg. */
static char *run_probe(const char *python, char *msg, size_t msg_size) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(msg, msg_size, "pipe: %s", strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    static char isolated[] = "-I", command[] = "-c", locale[] = "LC_ALL=C.UTF-8";
    char *argv[4 + N_SHIMS + 1] = {(char *)(uintptr_t)python, isolated, command,
                                   (char *)(uintptr_t)probe_code};
    for (size_t i = 0; i < N_SHIMS; i++)
        argv[4 + i] = (char *)(uintptr_t)psb__pyshim_source(shims[i]);
    char *envp[] = {locale, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, python, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        snprintf(msg, msg_size, "cannot run %s: %s", python, strerror(rc));
        return NULL;
    }
    psb__buf text = {0};
    char chunk[4096];
    uint64_t deadline = psb__now_ns() + 10000000000ull;
    for (;;) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int left = (int)((deadline - psb__now_ns()) / 1000000u);
        ssize_t n = psb__now_ns() < deadline && poll(&p, 1, left > 0 ? left : 0) > 0
                        ? read(out[0], chunk, sizeof chunk)
                        : -1;
        if (n <= 0 || text.len > (8u << 20) || psb__buf_append(&text, chunk, (size_t)n) != 0)
            break;
    }
    close(out[0]);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!text.data || psb__buf_append(&text, "", 1) != 0) {
        psb__buf_free(&text);
        snprintf(msg, msg_size, "%s printed nothing when asked for its paths", python);
        return NULL;
    }
    return psb__buf_steal(&text);
}

/* The ELF interpreter (PT_INTERP) of an executable, realpath'd into buf; 0, or -1. */
static int elf_loader(const char *exe, char *buf) {
    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr eh;
    int rc = -1;
    if (fd < 0)
        return -1;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64)
        goto out;
    for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
            (ssize_t)sizeof ph)
            goto out;
        if (ph.p_type != PT_INTERP)
            continue;
        char path[PATH_MAX];
        if (ph.p_filesz == 0 || ph.p_filesz >= sizeof path ||
            pread(fd, path, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
            goto out;
        path[ph.p_filesz - 1] = '\0';
        rc = realpath(path, buf) ? 0 : -1;
        goto out;
    }
    rc = 1; /* static: no loader */
out:
    close(fd);
    return rc;
}

/* Adds s to arr when it is an absolute path not there yet. */
static void add_path(json_t *arr, const char *s) {
    size_t i;
    json_t *e;
    if (!s || s[0] != '/')
        return;
    json_array_foreach(arr, i, e) {
        if (strcmp(json_string_value(e), s) == 0)
            return;
    }
    json_array_append_new(arr, json_string(s));
}

int psb__external_probe(const char *python, char *msg, size_t msg_size) {
    char real[PATH_MAX], loader[PATH_MAX];
    char *out = run_probe(python, msg, msg_size);
    json_t *doc = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    if (!doc) {
        if (!msg[0])
            snprintf(msg, msg_size, "%s did not say where its libraries are", python);
        return -1;
    }
    json_t *read = json_array(), *exec = json_array();
    size_t i;
    json_t *e;
    /* Its libraries, its prefixes (a venv's pyvenv.cfg lives there) and itself. */
    json_array_foreach(json_object_get(doc, "path"), i, e) {
        add_path(read, json_string_value(e));
    }
    add_path(read, json_string_value(json_object_get(doc, "stdlib")));
    add_path(read, json_string_value(json_object_get(doc, "prefix")));
    add_path(read, json_string_value(json_object_get(doc, "base_prefix")));
    int loader_rc = realpath(python, real) ? elf_loader(real, loader) : -1;
    if (loader_rc < 0) {
        snprintf(msg, msg_size, "%s is not an executable this machine can run", python);
        json_decref(doc);
        json_decref(read);
        json_decref(exec);
        return -1;
    }
    add_path(exec, real);
    if (loader_rc == 0)
        add_path(exec, loader);
    psb__helper.python_read = read;
    psb__helper.python_exec = exec;
    psb__helper.python_probe = doc;
    return 0;
}

/* The input files as the bootstrap compares them: [dev, ino, size, mtime s, mtime ns]. */
static json_t *input_stats(const struct psb__child_run *run) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < run->n_inputs; i++) {
        const struct psb__input_stat *s = &run->inputs[i];
        json_array_append_new(arr, json_pack("[I,I,I,I,I]", (json_int_t)s->dev, (json_int_t)s->ino,
                                             (json_int_t)s->size, (json_int_t)s->mtime.tv_sec,
                                             (json_int_t)s->mtime.tv_nsec));
    }
    return arr;
}

/* Everything the bootstrap needs, as one JSON document. */
static json_t *bootstrap_args(const struct psb__child_run *run) {
    const struct psb__request *r = run->req;
    json_t *limits = json_object(), *frames;
    for (int i = 0; limits && i < PSB__LIMIT_COUNT; i++)
        json_object_set_new(limits, psb__limit_key((enum psb__limit_id)i),
                            json_integer((json_int_t)r->limits.v[i]));
    frames =
        json_pack("{s:I,s:I,s:I,s:I,s:I}", "reply", (json_int_t)PSB__FRAME_REPLY, "result",
                  (json_int_t)PSB__FRAME_RESULT, "figure", (json_int_t)PSB__FRAME_FIGURE, "display",
                  (json_int_t)PSB__FRAME_DISPLAY, "file", (json_int_t)PSB__FRAME_FILE);
    char fonts[PATH_MAX] = "";
    if (psb__helper.cache_dir && psb__cache_trusted())
        snprintf(fonts, sizeof fonts, "%s/matplotlib", psb__helper.cache_dir);
    /* The filter the bootstrap stacks (sock_filter[] as base64), when seccomp is on. */
    char *no_exec = psb__helper.seccomp_no_exec.len
                        ? psb__base64_encode(psb__helper.seccomp_no_exec.filter,
                                             psb__helper.seccomp_no_exec.len * 8u)
                        : NULL;
    json_t *args = json_pack(
        "{s:s%,s:s?,s:O?,s:o,s:b,s:O,s:O,s:O,s:O,s:O?,s:s?,s:s,s:o,s:o,s:O,s:s?,s:s?,s:b,"
        "s:O,s:{s:i,s:i,s:i,s:i,s:i,s:i}}",
        "code", r->code, r->code_len, "prelude", r->prelude, "inputs", r->inputs, "limits", limits,
        "default_allow", r->default_allow, "rules", r->import_rules, "denied_events",
        r->denied_events, "user_denied_events", r->user_denied_events, "readable_paths",
        r->readable_paths, "sites", r->sites, "writable", r->writable, "scratch", run->scratch,
        "input_stats", input_stats(run), "frames", frames, "trusted", psb__helper.python_read,
        "font_cache", fonts[0] ? fonts : NULL, "no_exec_filter", no_exec, "hooks",
        (psb__helper.layers & PSB_LAYER_HOOKS) != 0, "probe", psb__helper.python_probe, "caps",
        "max_files", PSB__MAX_FILES, "max_figures", PSB__MAX_FIGURES, "max_mimes", PSB__MAX_MIMES,
        "message", 8 << 10, "traceback", 32 << 10, "name", 256);
    free(no_exec);
    return args;
}

_Noreturn void psb__external_exec(const struct psb__child_run *run, int fd) {
    const char *what = "preparing the request for the interpreter";
    json_t *args = bootstrap_args(run);
    char *text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    int memfd = text ? memfd_create("psb-request", 0) : -1;
    if (memfd < 0 || psb__write_all(memfd, text, strlen(text)) != 0 ||
        lseek(memfd, 0, SEEK_SET) != 0 || (memfd != 4 && dup2(memfd, 4) != 4))
        goto fail;
    free(text);
    if (memfd != 4)
        close(memfd);
    /* stdin, stdout, stderr, the reply socket and the request stay open across exec. */
    for (int i = 0; i <= 4; i++)
        if (fcntl(i, F_SETFD, 0) != 0)
            goto fail;
    /*
     * The address space the new image gets: the memory limit plus room for
     * the interpreter itself, counted from nothing, not from what this
     * process maps (a sanitizer's shadow would make that limit no limit).
     */
    what = "limiting the interpreter's address space";
    rlim_t as =
        (rlim_t)((run->req->limits.v[PSB__LIMIT_MEMORY_MIB] << 20) + PSB__EXTERNAL_IMAGE_BYTES);
    struct rlimit rl = {as, as};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        goto fail;
    what = "loading the seccomp filter";
    if ((psb__helper.layers & PSB_LAYER_SECCOMP) &&
        psb__seccomp_load(&psb__helper.seccomp_external) != 0)
        goto fail;
    /*
     * -S: no site, so no .pth file or sitecustomize runs before the bootstrap;
     * the stub puts back the sys.path and prefixes site made when the probe
     * ran. It then runs pyshim/external.py under a name tracebacks hide.
     */
    static char isolated[] = "-I", no_site[] = "-S", command[] = "-c",
                stub[] = "import base64, json, marshal, sys\n"
                         "with open(4, 'rb') as f:\n"
                         "    ARGS = json.loads(f.read())\n"
                         "P = ARGS['probe']\n"
                         "sys.path[:], sys.prefix, sys.exec_prefix = P['path'], P['prefix'], "
                         "P['exec_prefix']\n"
                         "exec(marshal.loads(base64.b64decode(P['code']['external'])), "
                         "{'__name__': '_pysandbox_external', 'ARGS': ARGS})\n";
    char *argv[] = {(char *)(uintptr_t)psb__helper.python, isolated, no_site, command, stub, NULL};
    what = "starting the interpreter";
    execve(psb__helper.python, argv, environ);
fail : {
    char msg[256];
    snprintf(msg, sizeof msg, "sandbox set-up failed: %s: %s", what, strerror(errno));
    psb__child_reply(fd, PSB_KIND_INTERNAL, NULL, msg, NULL, NULL, NULL, NULL, 0, NULL);
    _exit(PSB__CHILD_SETUP_FAILED);
}
}
