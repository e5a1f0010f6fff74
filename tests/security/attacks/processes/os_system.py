# attack: os.system
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

os.system('echo pwned > ' + inputs['canary'] + '/sys')
