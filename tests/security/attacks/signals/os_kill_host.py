# attack: os.kill the host
# layers: all
# lib: tryit
# expect: kind = denied
# expect: event = os.kill

import signal
os.kill(inputs['host'], signal.SIGUSR1)
