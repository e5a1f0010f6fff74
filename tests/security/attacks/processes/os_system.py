# attack: os.system
# layers: all
# lib: tryit
# expect: kind = denied

os.system('echo pwned > ' + inputs['canary'] + '/sys')
