# attack: subprocess.run past the Python layer
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = denied

import subprocess
subprocess.run(['/bin/sh', '-c', 'echo pwned > ' + inputs['canary'] + '/sp'])
