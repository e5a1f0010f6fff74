# attack: control: a plain exception is an exception
# layers: all
# mode: warm external
# lib: forge
# expect: kind = exception

raise ValueError('x')
