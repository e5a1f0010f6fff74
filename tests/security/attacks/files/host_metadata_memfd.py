# attack: chmod, utimes, chown of a host file the children's uid owns; memfd pages past the memory limit
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.chmod.ret = -1
# expect: result.utimes.ret = -1
# expect: result.chown.ret = -1
# expect: result.memfd = {"ret": -1, "errno": "EPERM"}

p = inputs['victim'].encode()
result = {'chmod': call(libc.chmod, p, 0o777),
          'utimes': call(libc.utimes, p, None),
          'chown': call(libc.chown, p, 0, 0),
          'memfd': call(libc.memfd_create, b'x', 0)}
