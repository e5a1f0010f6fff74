# attack: SIG_IGN for SIGINT through libc, then sleep in C
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# timeout_ms: 2000
# expect: kind = timeout
# expect: wall_ms < 6000

libc.signal(2, ctypes.c_void_p(1))
while True:
    libc.sleep(100)
