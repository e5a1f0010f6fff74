# attack: bpf() through libc.syscall: a call the filter kills for
# layers: seccomp
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed and message contains SIGSYS and result = null

result = sysc(321, 0, 0, 0)
