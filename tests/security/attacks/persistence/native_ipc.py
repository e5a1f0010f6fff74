# attack: SysV shared memory, queues and semaphores, POSIX queues and /dev/shm through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.shmget = {"ret": -1, "errno": "EPERM"}
# expect: result.msgget = {"ret": -1, "errno": "EPERM"}
# expect: result.semget = {"ret": -1, "errno": "EPERM"}
# expect: result.mq_open = {"ret": -1, "errno": "EPERM"}
# expect: result.shm_file.ret = -1

r = {}
r['shmget'] = call(libc.shmget, 0, 4096, 0o1000 | 0o600)
r['msgget'] = call(libc.msgget, 0, 0o1000 | 0o600)
r['semget'] = call(libc.semget, 0, 1, 0o1000 | 0o600)
r['mq_open'] = sysc(240, b'psbq', 0o100 | 2, 0o600, 0)
r['shm_file'] = lopen('/dev/shm/' + inputs['base'] + '-n', 0o1 | 0o100)
result = r
