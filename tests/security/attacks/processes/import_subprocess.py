# attack: import subprocess
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = import_denied

import subprocess
