# attack: mmap of 8 GiB through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# memory_mib: 128
# expect: kind = ok
# expect: result.failed = true

libc.mmap.restype = ctypes.c_void_p
p = libc.mmap(None, ctypes.c_size_t(8 << 30), 3, 0x22, -1, 0)
result = {'failed': p in (None, ctypes.c_void_p(-1).value)}
