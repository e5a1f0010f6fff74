# attack: read the secret
# layers: all
# lib: tryit
# expect: kind = denied

result = open(inputs['secret']).read()
