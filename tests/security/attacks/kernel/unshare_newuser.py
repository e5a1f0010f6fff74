# attack: unshare(CLONE_NEWUSER) through libc.syscall: a call the filter kills for
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed and message contains SIGSYS and result = null

result = sysc(272, 0x10000000)
