# attack: a code object that claims a library filename, run in a library module's dict
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result = [-1, 1, -1, 1]

# socket() returns -1 with errno 1 (EPERM), twice.
import json
src = ('def _psb_f(port):\n'
       '    import ctypes, struct\n'
       '    libc = ctypes.CDLL(None, use_errno=True)\n'
       '    fd = libc.socket(2, 1, 0)\n'
       '    return [fd, ctypes.get_errno()]\n')
exec(compile(src, json.__file__, 'exec'), json.__dict__)
result = json._psb_f(inputs['port'])
code = json._psb_f.__code__.replace(co_filename=os.__file__)
import types
g = types.FunctionType(code, os.__dict__)
result += g(inputs['port'])
