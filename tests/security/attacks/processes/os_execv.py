# attack: os.execv
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

os.execv('/bin/sh', ['sh', '-c', 'echo pwned > ' + inputs['canary'] + '/x'])
