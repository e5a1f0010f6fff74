# attack: os.execv
# layers: all
# lib: tryit
# expect: kind = denied

os.execv('/bin/sh', ['sh', '-c', 'echo pwned > ' + inputs['canary'] + '/x'])
