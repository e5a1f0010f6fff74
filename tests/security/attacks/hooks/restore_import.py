# attack: the limit of the Python layer: restoring __import__ gets past it
# layers: hooks
# mode: warm
# lib: tryit
# expect: kind = ok
# expect: result = ["socket", "ctypes", "subprocess", "_socket"]

import sys, builtins, importlib
builtins.__import__ = importlib._bootstrap.__import__
sys.meta_path[:] = [f for f in sys.meta_path
                    if type(f).__name__ != 'ImportFilter']
import socket, ctypes, subprocess
result = [socket.__name__, ctypes.__name__, subprocess.__name__,
          sys.modules['_socket'].__name__]
