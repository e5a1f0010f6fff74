/*
 * policy/presets.c - the built-in policies, written as the same JSON a user
 * would put in a policy file so both go through one parser.
 */
#include <string.h>

#include "policy/policy.h"

/* Audit events no preset allows: processes, network, native code loading. */
#define DENIED_EVENTS                                                                              \
    "\"subprocess.Popen\", \"os.system\", \"os.exec\", \"os.posix_spawn\","                        \
    "\"os.spawn\", \"os.fork\", \"os.forkpty\", \"os.kill\", \"os.killpg\","                       \
    "\"signal.pthread_kill\", \"pty.spawn\", \"socket.*\","                                        \
    "\"webbrowser.open\", \"urllib.Request\", \"http.client.connect\","                            \
    "\"ftplib.connect\", \"smtplib.connect\", \"poplib.connect\","                                 \
    "\"imaplib.open\", \"nntplib.connect\", \"telnetlib.Telnet.open\","                            \
    "\"resource.prlimit\", \"syslog.openlog\""

/* Events libraries raise for their own use (numpy loads itself with ctypes). */
#define USER_DENIED_EVENTS "\"ctypes.*\""

/* Modules that only exist to reach the network, processes or native code. */
#define DENIED_MODULES                                                                             \
    "\"socket\", \"_socket\", \"ssl\", \"_ssl\", \"subprocess\","                                  \
    "\"_posixsubprocess\", \"multiprocessing\", \"_multiprocessing\","                             \
    "\"concurrent.futures.process\", \"ctypes\", \"_ctypes\", \"cffi\","                           \
    "\"_cffi_backend\", \"pty\", \"http.client\", \"http.server\","                                \
    "\"urllib.request\", \"ftplib\", \"smtplib\", \"poplib\", \"imaplib\","                        \
    "\"nntplib\", \"telnetlib\", \"socketserver\", \"xmlrpc\", \"webbrowser\","                    \
    "\"requests\", \"urllib3\", \"_xxsubinterpreters\""

#define READABLE_PATHS                                                                             \
    "\"/usr/share\", \"/etc/localtime\", \"/etc/timezone\","                                       \
    "\"/etc/matplotlibrc\", \"/etc/mime.types\", \"/dev/null\","                                   \
    "\"/dev/zero\", \"/dev/urandom\", \"/dev/random\""

/* What analysis code imports: the stdlib's data modules and the SciPy stack. */
#define ANALYSIS_MODULES                                                                           \
    "\"math\", \"cmath\", \"random\", \"statistics\", \"decimal\","                                \
    "\"fractions\", \"numbers\", \"json\", \"csv\", \"datetime\", \"time\","                       \
    "\"calendar\", \"zoneinfo\", \"re\", \"string\", \"textwrap\","                                \
    "\"unicodedata\", \"difflib\", \"collections\", \"itertools\","                                \
    "\"functools\", \"operator\", \"heapq\", \"bisect\", \"array\","                               \
    "\"copy\", \"pprint\", \"typing\", \"dataclasses\", \"enum\", \"abc\","                        \
    "\"contextlib\", \"types\", \"warnings\", \"io\", \"base64\","                                 \
    "\"binascii\", \"hashlib\", \"hmac\", \"zlib\", \"gzip\", \"bz2\","                            \
    "\"lzma\", \"struct\", \"uuid\", \"secrets\", \"traceback\","                                  \
    "\"weakref\", \"sys\", \"os\", \"pathlib\", \"glob\", \"fnmatch\","                            \
    "\"tempfile\", \"shutil\", \"locale\", \"gettext\", \"inspect\","                              \
    "\"asyncio\", \"threading\", \"queue\", \"concurrent.futures\","                               \
    "\"numpy\", \"pandas\", \"matplotlib\", \"mpl_toolkits\", \"scipy\","                          \
    "\"PIL\", \"dateutil\", \"pytz\", \"tzdata\", \"seaborn\", \"sklearn\","                       \
    "\"statsmodels\", \"sympy\", \"networkx\", \"pyarrow\", \"openpyxl\""

static const struct {
    const char *name;
    const char *json;
} presets[] = {
    {"default", "{\"description\": \"no network, no subprocesses, no native code loading\","
                " \"imports\": {\"default\": \"allow\", \"deny\": [" DENIED_MODULES "]},"
                " \"denied_events\": [" DENIED_EVENTS "],"
                " \"user_denied_events\": [" USER_DENIED_EVENTS "],"
                " \"readable_paths\": [" READABLE_PATHS "],"
                " \"network\": false}"},
    {"data-science", "{\"description\": \"the stdlib's analysis modules and the SciPy stack only\","
                     " \"imports\": {\"default\": \"deny\", \"allow\": [" ANALYSIS_MODULES "],"
                     " \"deny\": [" DENIED_MODULES "]},"
                     " \"denied_events\": [" DENIED_EVENTS "],"
                     " \"user_denied_events\": [" USER_DENIED_EVENTS "],"
                     " \"readable_paths\": [" READABLE_PATHS "],"
                     " \"network\": false}"},
    {"strict", "{\"description\": \"a minimal pure-computation stdlib, tight limits\","
               " \"imports\": {\"default\": \"deny\", \"allow\": [\"math\", \"cmath\","
               " \"random\", \"statistics\", \"decimal\", \"fractions\", \"numbers\","
               " \"json\", \"re\", \"string\", \"datetime\", \"collections\","
               " \"itertools\", \"functools\", \"operator\", \"heapq\", \"bisect\","
               " \"copy\", \"typing\", \"dataclasses\", \"enum\", \"abc\", \"textwrap\","
               " \"unicodedata\", \"array\"]},"
               " \"denied_events\": [" DENIED_EVENTS ", \"ctypes.*\"],"
               " \"user_denied_events\": [\"os.listdir\", \"os.scandir\"],"
               " \"readable_paths\": [\"/dev/null\", \"/dev/urandom\"],"
               " \"network\": false,"
               " \"limits\": {\"timeout_ms\": 10000, \"memory_mib\": 256, \"cpu_s\": 10,"
               " \"file_size_mib\": 8, \"open_files\": 64}}"},
};

const char *psb__preset_json(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0)
            return presets[i].json;
    return NULL;
}
