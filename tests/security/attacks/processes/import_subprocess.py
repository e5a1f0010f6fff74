# attack: import subprocess
# layers: all
# lib: tryit
# expect: kind = import_denied

import subprocess
