# attack: os from the globals of outer frames, after adding an audit hook
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

import sys
sys.addaudithook(lambda *a: None)
f = sys._getframe(); oses = []
while f is not None:
    o = f.f_globals.get('os')
    if o is not None: oses.append(o)
    f = f.f_back
for o in oses:
    o.system('echo pwned > ' + inputs['canary'] + '/frames')
