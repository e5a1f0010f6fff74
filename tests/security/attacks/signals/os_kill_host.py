# attack: os.kill the host
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied
# expect: event = os.kill

import signal
os.kill(inputs['host'], signal.SIGUSR1)
