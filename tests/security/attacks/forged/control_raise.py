# attack: control: a plain exception is an exception
# layers: all
# lib: forge
# expect: kind = exception

raise ValueError('x')
