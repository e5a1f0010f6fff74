/*
 * report.c - how the tool shows an outcome: one JSON object with --json, or
 * the captured output, the result and a readable error block; and the exit
 * status that goes with each error kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

const char cli_exit_status_help[] =
    "Exit status:\n"
    "  0  the code ran and succeeded\n"
    "  1  the code failed: exception, syntax_error, result_not_serializable\n"
    "  2  usage error or invalid request: bad flags, unreadable files,\n"
    "     malformed inputs, code that is not UTF-8 (invalid_request)\n"
    "  3  a limit was hit: timeout, memory_limit, cpu_limit, output_limit\n"
    "  4  refused by the policy: denied, import_denied\n"
    "  5  the sandboxed process crashed (crashed), or a repl's session ended\n"
    "     (session_lost)\n"
    "  6  internal failure of the sandbox (internal, helper missing, ...), or\n"
    "     a file or figure that could not be written to --output-dir/--figures-dir\n"
    "  130  cancelled: SIGINT or SIGTERM stopped the run, or a server's client\n"
    "       cancelled it (cancelled)\n";

int cli_exit_for_kind(psb_error_kind kind) {
    int rc = CLI_EXIT_INTERNAL;

    switch (kind) {
    case PSB_KIND_NONE:
        rc = CLI_EXIT_OK;
        break;
    case PSB_KIND_EXCEPTION:
    case PSB_KIND_SYNTAX_ERROR:
    case PSB_KIND_RESULT_NOT_SERIALIZABLE:
        rc = CLI_EXIT_CODE_FAILED;
        break;
    case PSB_KIND_INVALID_REQUEST:
        rc = CLI_EXIT_USAGE;
        break;
    case PSB_KIND_TIMEOUT:
    case PSB_KIND_MEMORY_LIMIT:
    case PSB_KIND_CPU_LIMIT:
    case PSB_KIND_OUTPUT_LIMIT:
        rc = CLI_EXIT_LIMIT;
        break;
    case PSB_KIND_DENIED:
    case PSB_KIND_IMPORT_DENIED:
        rc = CLI_EXIT_DENIED;
        break;
    case PSB_KIND_CANCELLED:
        rc = CLI_EXIT_CANCELLED;
        break;
    case PSB_KIND_CRASHED:
    case PSB_KIND_SESSION_LOST:
        rc = CLI_EXIT_CRASHED;
        break;
    case PSB_KIND_INTERNAL:
    case PSB__KIND_COUNT:
    default:
        rc = CLI_EXIT_INTERNAL;
        break;
    }
    return rc;
}

/* Writes len bytes to f; the text ends with a newline if it had none. */
static void write_block(FILE *f, const char *text, size_t len) {
    fwrite(text, 1, len, f);
    if (len > 0 && text[len - 1] != '\n')
        fputc('\n', f);
}

/*
 * "result: <JSON>" on stdout, unless the result is null. The library's text
 * as is: re-encoding it would print floats with 17 digits (20.899999999999999).
 */
static void print_result(const char *result_json) {
    if (result_json != NULL && strcmp(result_json, "null") != 0)
        printf("result: %s\n", result_json);
}

/* The readable error block on stderr. */
static void print_error_block(const struct cli_view *v) {
    fprintf(stderr, "error: %s", psb_error_kind_name(v->kind));
    if (v->type != NULL && v->type[0] != '\0')
        fprintf(stderr, ": %s", v->type);
    if (v->message != NULL && v->message[0] != '\0')
        fprintf(stderr, ": %s", v->message);
    fputc('\n', stderr);
    if (v->traceback != NULL && v->traceback[0] != '\0')
        write_block(stderr, v->traceback, strlen(v->traceback));
    if (v->module != NULL && v->module[0] != '\0')
        fprintf(stderr, "module: %s\n", v->module);
    if (v->event != NULL && v->event[0] != '\0')
        fprintf(stderr, "event: %s\n", v->event);
}

/*
 * The note on figures and files that are not on the screen: where they went,
 * or which flag would write them. `saved` holds CLI_SAVED_* bits.
 */
static void print_outputs_note(size_t figures, size_t files, unsigned saved) {
    int figures_left = figures > 0 && !(saved & CLI_SAVED_FIGURES);
    int files_left = files > 0 && !(saved & CLI_SAVED_FILES);

    if (figures_left && files_left)
        fprintf(stderr,
                "[pysandbox: %zu figure(s) and %zu file(s) not shown; write them with "
                "--figures-dir DIR and --output-dir DIR, or use --json]\n",
                figures, files);
    else if (figures_left)
        fprintf(stderr,
                "[pysandbox: %zu figure(s) not shown; write them with --figures-dir DIR, "
                "or use --json]\n",
                figures);
    else if (files_left)
        fprintf(stderr,
                "[pysandbox: %zu file(s) not shown; write them with --output-dir DIR, "
                "or use --json]\n",
                files);
}

static void print_readable(const struct cli_view *v, unsigned saved) {
    const char *out = v->out, *err = v->err, *result = v->result_json;
    size_t out_len = v->out_len, err_len = v->err_len;
    int out_cut = v->out_trunc, err_cut = v->err_trunc;
    int has_result = result != NULL && strcmp(result, "null") != 0;
    size_t figures = v->n_figures, files = v->n_files;
    int more; /* something follows the captured stderr on stderr */

    /* Raw bytes; a newline is added only so that "result:" starts a line. */
    if (out != NULL && out_len > 0) {
        if (has_result || v->n_shown)
            write_block(stdout, out, out_len);
        else
            fwrite(out, 1, out_len, stdout);
    }
    /* What display() showed, as text, after the output (its place in it is not known). */
    for (size_t i = 0; i < v->n_shown; i++)
        if (v->shown[i])
            write_block(stdout, v->shown[i], strlen(v->shown[i]));
    fflush(stdout);
    if (err != NULL && err_len > 0)
        fwrite(err, 1, err_len, stderr);
    more = out_cut || err_cut || (figures > 0 && !(saved & CLI_SAVED_FIGURES)) ||
           (files > 0 && !(saved & CLI_SAVED_FILES)) || !v->ok;
    if (more && err != NULL && err_len > 0 && err[err_len - 1] != '\n')
        fputc('\n', stderr); /* notes and the error block start a line */
    if (out_cut)
        fputs("[pysandbox: stdout truncated]\n", stderr);
    if (err_cut)
        fputs("[pysandbox: stderr truncated]\n", stderr);
    print_outputs_note(figures, files, saved);
    if (has_result)
        print_result(result);
    if (!v->ok) {
        fflush(stdout);
        print_error_block(v);
    }
}

int cli_print_outcome(const struct cli_view *v, int json, unsigned saved) {
    int rc = cli_exit_for_kind(v->ok ? PSB_KIND_NONE : v->kind);

    if (!json) {
        print_readable(v, saved);
        return rc;
    }
    fputs(v->json_text, stdout);
    fputc('\n', stdout);
    return rc;
}

/* A JSON string of message; bytes that are not UTF-8 become '?'. */
static json_t *message_string(const char *message) {
    json_t *s = json_string(message);
    char *copy = NULL;
    size_t i, off, len;

    if (s != NULL)
        goto out;
    copy = strdup(message);
    if (copy == NULL)
        goto out;
    len = strlen(copy);
    for (i = 0; i < len && cli_check_text(copy + i, len - i, &off) != NULL; i += off + 1)
        copy[i + off] = '?';
    s = json_string(copy);
out:
    free(copy);
    return s;
}

void cli_print_failure_json(psb_error_kind kind, const char *message) {
    json_t *root = NULL;
    char *text = NULL;

    root = json_pack("{s:s, s:n, s:s, s:b, s:s, s:b,"
                     " s:{s:s, s:n, s:o, s:n, s:n, s:n},"
                     " s:{s:I, s:I, s:I, s:I}, s:[], s:b, s:[], s:b, s:[]}",
                     "status", "error", "result", "stdout", "", "stdout_truncated", 0, "stderr", "",
                     "stderr_truncated", 0, "error", "kind", psb_error_kind_name(kind), "type",
                     "message", message_string(message), "traceback", "module", "event", "stats",
                     "wall_ms", (json_int_t)0, "cpu_ms", (json_int_t)0, "peak_rss_kib",
                     (json_int_t)0, "peak_memory_kib", (json_int_t)0, "figures",
                     "figures_truncated", 0, "files", "displays_truncated", 0, "displays");
    if (root != NULL)
        text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        /* Out of memory: still one JSON object on stdout, kind internal. */
        fputs("{\"status\":\"error\",\"result\":null,\"stdout\":\"\","
              "\"stdout_truncated\":false,\"stderr\":\"\",\"stderr_truncated\":false,"
              "\"error\":{\"kind\":\"internal\",\"type\":null,"
              "\"message\":\"out of memory\",\"traceback\":null,\"module\":null,"
              "\"event\":null},\"stats\":{\"wall_ms\":0,\"cpu_ms\":0,\"peak_rss_kib\":0,"
              "\"peak_memory_kib\":0},"
              "\"figures\":[],\"figures_truncated\":false,\"files\":[],"
              "\"displays_truncated\":false,\"displays\":[]}\n",
              stdout);
        goto out;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
out:
    free(text);
    json_decref(root);
}
