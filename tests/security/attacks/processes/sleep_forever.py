# attack: sleep past the time limit
# layers: all
# mode: warm external
# lib: tryit
# timeout_ms: 2000
# expect: kind = timeout
# expect: wall_ms < 6000

import time
time.sleep(600)
