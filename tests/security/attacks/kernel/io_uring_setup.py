# attack: io_uring_setup() through libc.syscall: a call the filter kills for
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed and message contains SIGSYS and result = null

result = sysc(425, 1, 0)
