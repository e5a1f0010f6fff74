# attack: builtins.__import__ replaced, then subprocess.run
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

import builtins, importlib, sys
builtins.__import__ = importlib._bootstrap.__import__
sys.meta_path[:] = [f for f in sys.meta_path
                    if type(f).__name__ != 'ImportFilter']
import subprocess
subprocess.run(['/bin/sh', '-c', 'echo pwned > ' + inputs['canary'] + '/imp'])
