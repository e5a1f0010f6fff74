# attack: write into the scratch dir's parent
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

open('../' + inputs['base'] + '-x', 'w').write('x')
