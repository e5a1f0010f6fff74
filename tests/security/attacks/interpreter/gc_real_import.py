# attack: the real __import__ found through gc, then a socket
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied or kind = import_denied

import gc, builtins
imp = [o for o in gc.get_objects()
       if callable(o) and getattr(o, '__name__', '') == '__import__'
       and o is not builtins.__import__]
imp = imp[0] if imp else __import__('importlib')._bootstrap.__import__
s = imp('socket')
s.socket().connect(('127.0.0.1', inputs['port']))
