# attack: fork, setsid and fork again to outlive the execution
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# timeout_ms: 5000
# expect: wall_ms < 10000
# expect: kind = ok
# expect: result.fork = {"ret": -1, "errno": "EPERM"}
# expect: result.setsid = {"ret": -1, "errno": "EPERM"}

r = {'fork': call(libc.fork)}
if r['fork']['ret'] == 0:
    libc.setsid()
    if libc.fork() == 0:
        libc.prctl(15, inputs['tag'].encode(), 0, 0, 0)
        libc.sleep(120)
    libc._exit(0)
r['setsid'] = call(libc.setsid)
r['setpgid'] = call(libc.setpgid, 0, 0)
result = r
