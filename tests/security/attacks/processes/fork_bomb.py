# attack: a fork bomb through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# timeout_ms: 10000
# expect: wall_ms < 15000
# expect: kind = ok
# expect: result.forked = 0
# expect: result.errs.0 = EPERM

n = 0; errs = set()
for i in range(2000):
    p = libc.fork()
    if p == 0:
        libc.prctl(15, inputs['tag'].encode(), 0, 0, 0)
        while True:
            libc.fork()
    if p > 0: n += 1
    else: errs.add(_en(ctypes.get_errno()))
result = {'forked': n, 'errs': sorted(errs)}
