/*
 * doctor.c - `pysandbox doctor`: which confinement layers this machine
 * provides, each proven by an attack run through that layer alone (the
 * others and the Python hooks off), and whether the policy's required
 * layers all hold. Exits non-zero when they do not: fail closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "include/pysandbox.h"

/* A layer, how to see whether the kernel has it, and an attack it must stop. */
struct check {
    unsigned layer;     /* PSB_LAYER_* */
    const char *what;   /* one line on what it stops */
    const char *attack; /* Python code; sets result = {"blocked": bool, "detail": str} */
    bool available;     /* the kernel offers it */
    char available_note[160];
    bool proven; /* the attack was stopped with only this layer on */
    char proof_note[320];
};

/* ctypes is importable here: the hooks are off, as for an attacker who removed them. */
static const char seccomp_attack[] =
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "pid = libc.fork()\n"
    "if pid == 0:\n"
    "    libc._exit(0)\n"
    "result = {'blocked': pid < 0, 'detail': 'fork() returned %d, errno %d' % (pid, "
    "ctypes.get_errno())}\n";

static const char landlock_attack[] =
    "import os\n"
    "try:\n"
    "    fd = os.open('/etc/passwd', os.O_RDONLY)\n"
    "    os.close(fd)\n"
    "    result = {'blocked': False, 'detail': 'read /etc/passwd'}\n"
    "except OSError as e:\n"
    "    result = {'blocked': True, 'detail': 'open(/etc/passwd): ' + e.strerror}\n";

static const char namespaces_attack[] =
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "s.settimeout(2)\n"
    "try:\n"
    "    s.connect(('127.0.0.1', inputs['port']))\n"
    "    result = {'blocked': False, 'detail': 'connected to the host loopback'}\n"
    "except OSError as e:\n"
    "    result = {'blocked': True, 'detail': 'connect(127.0.0.1): ' + str(e.strerror)}\n";

static const char unprivileged_attack[] =
    "import os\n"
    "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
    "result = {'blocked': os.getuid() != 0 and os.geteuid() != 0 and caps == "
    "['0000000000000000'],\n"
    "          'detail': 'uid %d, CapEff %s' % (os.geteuid(), caps[0] if caps else '?')}\n";

static const char hooks_attack[] = "try:\n"
                                   "    import socket\n"
                                   "    result = {'blocked': False, 'detail': 'imported socket'}\n"
                                   "except ImportError as e:\n"
                                   "    result = {'blocked': True, 'detail': str(e)}\n";

static bool userns_works(char *note, size_t size) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        snprintf(note, size, "cannot test: fork failed");
        return false;
    }
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (geteuid() == 0)
        snprintf(note, size, "root: network, IPC and UTS namespaces%s",
                 ok ? "; user namespaces too" : "");
    else
        snprintf(note, size,
                 ok ? "unprivileged user namespaces" : "unprivileged user namespaces are disabled");
    return ok || geteuid() == 0;
}

static void probe(struct check *c) {
    switch (c->layer) {
    case PSB_LAYER_SECCOMP:
        c->available = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
        snprintf(c->available_note, sizeof c->available_note, "%s",
                 c->available ? "seccomp-bpf filters" : "no seccomp in this kernel");
        break;
    case PSB_LAYER_LANDLOCK: {
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u /* VERSION */);
        c->available = abi >= 1;
        if (c->available)
            snprintf(c->available_note, sizeof c->available_note, "Landlock ABI %ld%s", abi,
                     abi >= 6   ? " (files, TCP, signal and socket scoping)"
                     : abi >= 4 ? " (files and TCP)"
                                : " (files)");
        else
            snprintf(c->available_note, sizeof c->available_note, "Landlock is not enabled (%s)",
                     strerror(errno));
        break;
    }
    case PSB_LAYER_NAMESPACES:
        c->available = userns_works(c->available_note, sizeof c->available_note);
        break;
    case PSB_LAYER_UNPRIVILEGED:
        c->available = true;
        snprintf(c->available_note, sizeof c->available_note, "%s",
                 geteuid() == 0 ? "root host: children drop to the policy's run_as uid"
                                : "the host is not root");
        break;
    default:
        c->available = true;
        snprintf(c->available_note, sizeof c->available_note, "audit hook and import filter");
    }
}

/* A loopback listener on this host, for the namespace proof. Returns its fd. */
static int listen_loopback(int *ret_port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *ret_port = ntohs(a.sin_port);
    return fd;
}

/* Runs the layer's attack with that layer alone and judges the result. */
static void prove(struct check *c, const char *policy, int port) {
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    psb_sandbox *sb = NULL;
    psb_exec_options *o = NULL;
    psb_outcome *out = NULL;
    json_t *result = NULL;
    const char *helper = cli_helper_path();
    char inputs[64];
    snprintf(inputs, sizeof inputs, "{\"port\": %d}", port);
    if (!config || (policy && psb_config_set_policy(config, policy, &err)) ||
        (helper && psb_config_set_helper_path(config, helper, &err)))
        goto fail;
    psb_config_set_diagnostic_layers(config, c->layer, &err);
    /* Cold: the proof does not depend on what a warm helper preloaded. */
    if (psb_config_set_mode(config, PSB_MODE_COLD, &err) || psb_sandbox_new(config, &sb, &err))
        goto fail;
    o = psb_exec_options_new(&err);
    if (!o || psb_exec_options_set_inputs_json(o, inputs, strlen(inputs), &err) ||
        psb_exec_options_set_timeout_ms(o, 20000, &err) ||
        psb_exec(sb, c->attack, strlen(c->attack), o, &out, &err))
        goto fail;
    result = json_loads(psb_outcome_result_json(out), JSON_DECODE_ANY, NULL);
    if (psb_outcome_ok(out) && json_is_object(result)) {
        c->proven = json_is_true(json_object_get(result, "blocked"));
        snprintf(c->proof_note, sizeof c->proof_note, "%s",
                 json_string_value(json_object_get(result, "detail"))
                     ? json_string_value(json_object_get(result, "detail"))
                     : "?");
    } else if (c->layer == PSB_LAYER_SECCOMP && psb_outcome_error_kind(out) == PSB_KIND_DENIED) {
        c->proven = true;
        snprintf(c->proof_note, sizeof c->proof_note, "refused: %s",
                 psb_outcome_error_event(out) ? psb_outcome_error_event(out) : "?");
    } else {
        snprintf(c->proof_note, sizeof c->proof_note, "the probe failed: %s: %s",
                 psb_error_kind_name(psb_outcome_error_kind(out)),
                 psb_outcome_error_message(out) ? psb_outcome_error_message(out) : "");
    }
    goto out;
fail:
    snprintf(c->proof_note, sizeof c->proof_note, "could not run the probe: %.200s", err.message);
out:
    json_decref(result);
    psb_outcome_free(out);
    psb_exec_options_free(o);
    psb_sandbox_free(sb);
    psb_config_free(config);
}

/*
 * Whether an execution's memory cgroup holds, proven: with a 32 MiB limit,
 * 48 MiB written to the scratch tmpfs (which RLIMIT_AS does not see) must
 * stop the execution.
 */
static bool memory_cgroup_holds(const char *policy) {
    static const char code[] = "with open('fill', 'wb') as f:\n"
                               "    for _ in range(48):\n"
                               "        f.write(b'x' * (1 << 20))\n"
                               "result = 'written'\n";
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    psb_sandbox *sb = NULL;
    psb_exec_options *o = NULL;
    psb_outcome *out = NULL;
    const char *helper = cli_helper_path();
    bool holds = false;
    if (config && (!policy || !psb_config_set_policy(config, policy, &err)) &&
        (!helper || !psb_config_set_helper_path(config, helper, &err)) &&
        !psb_config_set_mode(config, PSB_MODE_COLD, &err) && !psb_sandbox_new(config, &sb, &err) &&
        (o = psb_exec_options_new(&err)) && !psb_exec_options_set_memory_limit_mib(o, 32, &err) &&
        !psb_exec(sb, code, sizeof code - 1, o, &out, &err)) {
        psb_stats st;
        psb_outcome_stats(out, &st);
        holds = psb_outcome_error_kind(out) == PSB_KIND_MEMORY_LIMIT && st.peak_memory_kib > 0;
    }
    psb_outcome_free(out);
    psb_exec_options_free(o);
    psb_sandbox_free(sb);
    psb_config_free(config);
    return holds;
}

/* What the machine offers for cgroups: a line for humans; which per-execution caps apply. */
static void cgroups_note(const char *policy, char *note, size_t size, bool *ret_pids,
                         bool *ret_memory) {
    bool v1_pids = access("/sys/fs/cgroup/pids/cgroup.procs", W_OK) == 0;
    bool memory = memory_cgroup_holds(policy);
    snprintf(note, size, "%s; %s",
             v1_pids ? "pids (v1) writable: a pids cgroup per execution caps its threads"
                     : "no writable pids cgroup: RLIMIT_NPROC backstop only",
             memory ? "memory (v1) holds: a memory cgroup per execution counts its pages, "
                      "scratch files, stdin and buffers"
                    : "no memory cgroup: RLIMIT_AS (address space) is the only memory limit");
    *ret_pids = v1_pids;
    *ret_memory = memory;
}

static const char doctor_help[] =
    "Usage: pysandbox doctor [--policy NAME|FILE] [--json]\n"
    "\n"
    "Reports which confinement layers this machine provides and proves each one\n"
    "by running an attack through it with every other layer (and the Python\n"
    "audit hook and import filter) turned off. Exits 0 when every layer the\n"
    "policy requires (its \"require\" list) is there and holds, 1 otherwise.\n";

/* The layers the policy requires; -1 (with a message) when it does not load. */
static long required_layers(const char *policy) {
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    long required = -1;
    if (config && (!policy || psb_config_set_policy(config, policy, &err) == PSB_OK))
        required = (long)psb_config_required_layers(config);
    else
        fprintf(stderr, CLI_PROG ": error: --policy: %s\n", err.message);
    psb_config_free(config);
    return required;
}

/* What `doctor --json` prints; true in *ret_ok when every required layer holds. */
static json_t *report_json(const struct check *checks, size_t n, unsigned required, const char *cg,
                           bool cg_pids, bool cg_memory, bool *ret_ok) {
    bool ok = true;
    json_t *layers = json_array(), *effective = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct check *c = &checks[i];
        bool req = (required & c->layer) != 0;
        if (req && !(c->available && c->proven))
            ok = false;
        if (c->available && c->proven && c->layer != PSB_LAYER_HOOKS)
            json_array_append_new(effective, json_string(psb_layer_name(c->layer)));
        json_array_append_new(layers,
                              json_pack("{s:s,s:b,s:b,s:b,s:s,s:s,s:s}", "layer",
                                        psb_layer_name(c->layer), "required", req, "available",
                                        c->available, "proven", c->proven, "stops", c->what,
                                        "kernel", c->available_note, "proof", c->proof_note));
    }
    *ret_ok = ok;
    return json_pack("{s:o,s:o,s:{s:b,s:b,s:s},s:b}", "layers", layers, "effective", effective,
                     "cgroups", "pids", cg_pids, "memory", cg_memory, "note", cg, "ok", ok);
}

/* The table a person reads, from the --json document. */
static void report_text(const json_t *doc) {
    size_t i;
    json_t *l;
    printf("%-13s %-9s %-9s %s\n", "layer", "required", "status", "evidence");
    json_array_foreach(json_object_get(doc, "layers"), i, l) {
        bool available = json_is_true(json_object_get(l, "available"));
        const char *status = !available                                   ? "missing"
                             : json_is_true(json_object_get(l, "proven")) ? "holds"
                                                                          : "FAILED";
        printf("%-13s %-9s %-9s %s\n", json_string_value(json_object_get(l, "layer")),
               json_is_true(json_object_get(l, "required")) ? "yes" : "no", status,
               json_string_value(json_object_get(l, "kernel")));
        printf("%-13s %-9s %-9s stops %s; proof: %s\n", "", "", "",
               json_string_value(json_object_get(l, "stops")),
               json_string_value(json_object_get(l, "proof")));
    }
    const json_t *cg = json_object_get(doc, "cgroups");
    bool pids = json_is_true(json_object_get(cg, "pids"));
    bool memory = json_is_true(json_object_get(cg, "memory"));
    printf("%-13s %-9s %-9s %s\n", "cgroups", "no",
           pids && memory   ? "yes"
           : pids || memory ? "partly"
                            : "no",
           json_string_value(json_object_get(cg, "note")));
    const json_t *eff = json_object_get(doc, "effective");
    printf("\neffective kernel layers: %zu of 4 (", json_array_size(eff));
    for (i = 0; i < json_array_size(eff); i++)
        printf("%s%s", i ? ", " : "", json_string_value(json_array_get(eff, i)));
    printf(")\n%s\n", json_is_true(json_object_get(doc, "ok"))
                          ? "ok: every layer the policy requires holds on this machine"
                          : "NOT OK: a layer the policy requires is missing or does not hold");
}

/* Parses doctor's flags; -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, const char **ret_policy, bool *ret_json) {
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'p') {
            *ret_policy = optarg;
        } else if (opt == 'j') {
            *ret_json = true;
        } else if (opt == 'h') {
            fputs(doctor_help, stdout);
            return CLI_EXIT_OK;
        } else {
            fputs(doctor_help, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CLI_PROG ": error: doctor takes no arguments\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

int cli_cmd_doctor(int argc, char **argv) {
    const char *policy = NULL;
    bool json_out = false;
    int rc = parse_args(argc, argv, &policy, &json_out);
    if (rc >= 0)
        return rc;
    long required = required_layers(policy);
    if (required < 0)
        return CLI_EXIT_USAGE;

    struct check checks[] = {
        {PSB_LAYER_SECCOMP, "exec, fork, sockets, ptrace, io_uring, bpf, mount...", seccomp_attack,
         false, "", false, ""},
        {PSB_LAYER_LANDLOCK, "files outside the allow-list, writes, TCP", landlock_attack, false,
         "", false, ""},
        {PSB_LAYER_NAMESPACES, "the network, host IPC", namespaces_attack, false, "", false, ""},
        {PSB_LAYER_UNPRIVILEGED, "uid 0 and capabilities", unprivileged_attack, false, "", false,
         ""},
        {PSB_LAYER_HOOKS, "turns refusals into clear Python errors (not a boundary)", hooks_attack,
         false, "", false, ""},
    };
    size_t n = sizeof checks / sizeof checks[0];
    int port = 0;
    int listener = listen_loopback(&port);
    for (size_t i = 0; i < n; i++) {
        probe(&checks[i]);
        if (checks[i].available)
            prove(&checks[i], policy, port);
        else
            snprintf(checks[i].proof_note, sizeof checks[i].proof_note, "not tested");
    }
    if (listener >= 0)
        close(listener);

    char cg[256];
    bool cg_pids, cg_memory, ok;
    cgroups_note(policy, cg, sizeof cg, &cg_pids, &cg_memory);
    json_t *doc = report_json(checks, n, (unsigned)required, cg, cg_pids, cg_memory, &ok);
    if (!doc) {
        fprintf(stderr, CLI_PROG ": error: out of memory\n");
        return 1;
    }
    if (json_out) {
        char *text = json_dumps(doc, JSON_COMPACT);
        if (text)
            puts(text);
        free(text);
    } else {
        report_text(doc);
    }
    json_decref(doc);
    return ok ? CLI_EXIT_OK : 1;
}
