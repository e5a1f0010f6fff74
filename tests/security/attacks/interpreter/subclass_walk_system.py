# attack: os.system found by walking object subclasses
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied
# expect: event = os.system

for c in ().__class__.__base__.__subclasses__():
    if c.__name__ == '_wrap_close':
        g = c.__init__.__globals__
        break
g['system']('echo pwned > ' + inputs['canary'] + '/walk')
