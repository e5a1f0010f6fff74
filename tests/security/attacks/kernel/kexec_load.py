# attack: kexec_load() through libc.syscall: killed, or at least failed
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok and result.ret = -1 or kind = crashed and message contains SIGSYS and result = null

result = sysc(246, 0, 0, 0, 0)
