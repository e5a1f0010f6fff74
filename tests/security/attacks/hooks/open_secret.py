# attack: open the secret
# layers: hooks
# lib: tryit
# expect: kind = denied
# expect: event = open

result = open(inputs['secret']).read()
