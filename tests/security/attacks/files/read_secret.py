# attack: read the secret
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

result = open(inputs['secret']).read()
