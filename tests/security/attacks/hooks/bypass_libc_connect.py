# attack: library-looking frames get ctypes past the audit hook: a real connect
# layers: hooks
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.socket >= 0
# expect: result.connect.ret = 0
# expect: tcp_accepted = 1

# Expected: with the hooks alone the bypass connects; the Python layer is
# not a boundary, every guarantee comes from the kernel layers.
fd = libc.socket(2, 1, 0)
result = {'socket': fd, 'connect': call(libc.connect, fd, sa_in(inputs['port']), 16)}
libc.close(fd)
