# attack: getpid through int 0x80 (the i386 ABI) from mapped code
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok and result.ret = -1 or kind = crashed and message contains SIGSYS and result = null

result = None
buf = ctypes.create_string_buffer(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))
libc.mmap.restype = ctypes.c_void_p
p = libc.mmap(None, 4096, 7, 0x22, -1, 0)
ctypes.memmove(p, buf, 8)
result = ctypes.CFUNCTYPE(ctypes.c_int)(p)()
