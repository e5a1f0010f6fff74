# Prepended to a native attack (lib: tryit libc): libc through ctypes;
# call() and sysc() record the return value and errno of a C call.
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(f, *a):
    ctypes.set_errno(0)
    r = f(*a)
    return {'ret': r, 'errno': _en(ctypes.get_errno()) if r == -1 else None}
def sysc(nr, *a):
    return call(libc.syscall, nr, *a)
def lopen(p, fl, mode=0o644):
    return call(libc.open, p.encode(), fl, mode)
def sa_in(port):
    b = struct.pack('=H', 2) + struct.pack('!H', port) + bytes([127, 0, 0, 1]) + bytes(8)
    return ctypes.create_string_buffer(b, 16)
def sa_un(path):
    b = struct.pack('=H', 1) + path
    return ctypes.create_string_buffer(b, len(b))
