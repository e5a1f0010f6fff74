# attack: os.kill the sentinel past the Python layer
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = denied

import signal
os.kill(inputs['sentinel'], signal.SIGKILL)
