# attack: ignore SIGINT and spin
# layers: all
# mode: warm external
# lib: tryit
# timeout_ms: 2000
# expect: kind = timeout
# expect: wall_ms < 6000

import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
