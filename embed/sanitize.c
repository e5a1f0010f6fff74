/*
 * embed/sanitize.c - the AddressSanitizer defaults of the helper, linked only
 * into PSB_SANITIZE builds. The helper starts with an empty environment, so
 * ASAN_OPTIONS never reaches it; this is the runtime's hook for defaults.
 */

const char *__asan_default_options(void);

/*
 * No leak check at exit. The helper and the children it forks hold an
 * interpreter that is never finalized (its memory goes with the process), so
 * every report would be CPython's, and it would land in the helper's stderr,
 * /dev/null. The scan of the ~300 MiB heap cost ~3 s per sandbox: `pysandbox
 * run` under ASan took 4.9 s with it and 1.6 s without. The host side (the
 * library in the tests and the CLI) keeps LeakSanitizer.
 */
const char *__asan_default_options(void) {
    return "detect_leaks=0";
}
