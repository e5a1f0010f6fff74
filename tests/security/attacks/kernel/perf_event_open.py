# attack: perf_event_open() through libc.syscall: a call the filter kills for
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed and message contains SIGSYS and result = null

result = sysc(298, 0, 0, -1, -1, 0)
