# attack: write into the scratch dir's parent
# layers: all
# lib: tryit
# expect: kind = denied

open('../' + inputs['base'] + '-x', 'w').write('x')
