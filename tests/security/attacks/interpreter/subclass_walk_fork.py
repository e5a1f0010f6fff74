# attack: os.fork found by walking object subclasses
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

g = [c for c in object.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__
g['fork']()
