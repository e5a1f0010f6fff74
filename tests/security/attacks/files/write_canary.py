# attack: write into the canary dir
# layers: all
# lib: tryit
# expect: kind = denied

open(inputs['canary'] + '/pwned', 'w').write('x')
