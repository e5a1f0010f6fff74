# attack: write beside the canary dir
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

open(inputs['canary'] + '-pwned', 'w').write('x')
