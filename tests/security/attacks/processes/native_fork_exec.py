# attack: fork, execve, clone, vfork, clone3, execveat and setsid through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.fork = {"ret": -1, "errno": "EPERM"}
# expect: result.execve = {"ret": -1, "errno": "EPERM"}
# expect: result.clone = {"ret": -1, "errno": "EPERM"}
# expect: result.vfork = {"ret": -1, "errno": "EPERM"}
# expect: result.clone3 = {"ret": -1, "errno": "ENOSYS"}
# expect: result.execveat = {"ret": -1, "errno": "EPERM"}
# expect: result.setsid = {"ret": -1, "errno": "EPERM"}

r = {}
r['fork'] = call(libc.fork)
if r['fork']['ret'] == 0:
    libc.prctl(15, inputs['tag'].encode(), 0, 0, 0)
    libc.sleep(120)
    libc._exit(0)
cmd = 'echo pwned > ' + inputs['canary'] + '/exec_pwned'
argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', cmd.encode(), None)
r['execve'] = call(libc.execve, b'/bin/sh', argv, None)
r['clone'] = sysc(56, 17, 0, 0, 0, 0)
r['vfork'] = sysc(58)
r['clone3'] = sysc(435, 0, 0)
r['execveat'] = sysc(322, -100, b'/bin/sh', argv, 0, 0)
r['setsid'] = call(libc.setsid)
result = r
