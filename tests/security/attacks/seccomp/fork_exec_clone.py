# attack: fork, wait, exec, clone, vfork and clone3 through libc and os
# layers: seccomp
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.fork = {"ret": -1, "errno": "EPERM"}
# expect: result.wait.ok = false
# expect: result.execv.ok = false and result.execv.errno = EPERM
# expect: result.execve = {"ret": -1, "errno": "EPERM"}
# expect: result.clone = {"ret": -1, "errno": "EPERM"}
# expect: result.vfork = {"ret": -1, "errno": "EPERM"}
# expect: result.clone3 = {"ret": -1, "errno": "ENOSYS"}

# wait fails with ECHILD, or with EPERM where wait4 is not allowed.
r = {}
r['fork'] = call(libc.fork)
if r['fork']['ret'] == 0:
    libc.prctl(15, inputs['tag'].encode(), 0, 0, 0)
    libc.sleep(120)
    libc._exit(0)
r['wait'] = tryit(lambda: os.waitpid(-1, os.WNOHANG))
cmd = 'echo pwned > ' + inputs['canary'] + '/exec_pwned'
r['execv'] = tryit(lambda: os.execv('/bin/sh', ['sh', '-c', cmd]))
argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', cmd.encode(), None)
r['execve'] = call(libc.execve, b'/bin/sh', argv, None)
r['clone'] = sysc(56, 17, 0, 0, 0, 0)
r['vfork'] = sysc(58)
r['clone3'] = sysc(435, 0, 0)
result = r
