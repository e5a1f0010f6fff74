# attack: a busy loop with SIGXCPU ignored
# layers: all
# mode: warm external
# lib: tryit
# timeout_ms: 20000
# cpu_s: 1
# expect: kind = cpu_limit

import signal
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
while True:
    pass
