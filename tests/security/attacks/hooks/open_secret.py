# attack: open the secret
# layers: hooks
# mode: warm external
# lib: tryit
# expect: kind = denied
# expect: event = open

result = open(inputs['secret']).read()
