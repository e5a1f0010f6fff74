# attack: cold mode confines the same way: files, network and processes, kernel layers without the hooks
# layers: seccomp landlock namespaces unprivileged
# mode: cold
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.secret.ret = -1
# expect: result.write.ret = -1
# expect: result.fork = {"ret": -1, "errno": "EPERM"}
# expect: result.socket = {"ret": -1, "errno": "EPERM"}
# expect: result.chmod.ret = -1
# expect: result.uid.ret = -1

r = {}
r['secret'] = lopen(inputs['secret'], os.O_RDONLY)
r['write'] = lopen(inputs['canary'] + '/cold_pwned', os.O_WRONLY | os.O_CREAT)
r['fork'] = call(libc.fork)
if r['fork']['ret'] == 0:
    libc._exit(0)
r['socket'] = call(libc.socket, 2, 1, 0)
r['chmod'] = call(libc.chmod, inputs['secret'].encode(), 0o777)
r['uid'] = {'ret': -1 if os.getuid() != 0 else 0, 'errno': None}
result = r
