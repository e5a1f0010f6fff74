/*
 * main.c - entry point of the `pysandbox` tool: dispatches to a subcommand.
 *
 * A subcommand is one line in `commands` and one file (run.c; later serve,
 * mcp, doctor). Anything else on the command line is a usage error (exit 2).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;                  /* as typed: `pysandbox NAME ...` */
    int (*run)(int argc, char **argv); /* argv[0] is NAME; returns an exit status */
    const char *summary;               /* one line for --help */
};

static const struct command commands[] = {
    {"run", cli_cmd_run, "run Python code from FILE or stdin and report the outcome"},
    {"serve", cli_cmd_serve, "run executions for clients speaking JSON lines (stdio or a socket)"},
    {"mcp", cli_cmd_mcp, "a Model Context Protocol server on stdio with a run_python tool"},
    {"kernel", cli_cmd_kernel, "a Jupyter kernel whose cells run in a confined session"},
    {"repl", cli_cmd_repl, "an interactive prompt whose entries run as cells of one session"},
    {"layer", cli_cmd_layer, "create, install into, list and remove module layers"},
    {"doctor", cli_cmd_doctor,
     "check which confinement layers this machine provides, and prove them"},
};

void cli_print_version(void) {
    printf(CLI_PROG " %s\n", PSB_VERSION_STRING);
}

static void print_help(FILE *f) {
    size_t i;

    fputs("Usage: " CLI_PROG " COMMAND [OPTIONS] [ARGS]\n"
          "       " CLI_PROG " --help | --version\n"
          "\n"
          "Runs untrusted Python in a forked, kernel-confined child process.\n"
          "\n"
          "Commands:\n",
          f);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Run '" CLI_PROG " COMMAND --help' for the options of a command.\n"
          "\n",
          f);
    fputs(cli_exit_status_help, f);
}

static const struct command *find_command(const char *name) {
    const struct command *found = NULL;
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]) && found == NULL; i++) {
        if (strcmp(commands[i].name, name) == 0)
            found = &commands[i];
    }
    return found;
}

int main(int argc, char **argv) {
    const struct command *cmd;
    int rc;

    if (argc < 2) {
        print_help(stderr);
        rc = CLI_EXIT_USAGE;
    } else if (strcmp(argv[1], "help") == 0 && argc > 2 && (cmd = find_command(argv[2]))) {
        /* `pysandbox help run` is `pysandbox run --help`. */
        char help[] = "--help";
        char *args[] = {argv[2], help, NULL};
        rc = cmd->run(2, args);
    } else if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
               (strcmp(argv[1], "help") == 0 && argc == 2)) {
        print_help(stdout);
        rc = CLI_EXIT_OK;
    } else if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        cli_print_version();
        rc = CLI_EXIT_OK;
    } else if ((cmd = find_command(argv[1])) != NULL) {
        rc = cmd->run(argc - 1, argv + 1);
    } else {
        const char *what = strcmp(argv[1], "help") == 0 ? argv[2] : argv[1];
        fprintf(stderr,
                CLI_PROG ": error: unknown %s '%s'\n"
                         "Try '" CLI_PROG " --help' for the list of commands.\n",
                what[0] == '-' ? "option" : "command", what);
        rc = CLI_EXIT_USAGE;
    }
    /* Output that never reached its reader (a full disk) is a failure, also
     * when a write before this flush failed and stdio dropped the buffer. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK) {
        perror(CLI_PROG ": error: writing the output");
        rc = CLI_EXIT_INTERNAL;
    }
    return rc;
}
