# attack: signals to the host, the sentinel, the helper and init; a sweep of every pid
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.term_host.ret = -1
# expect: result.int_host.ret = -1
# expect: result.probe_helper.ret = -1
# expect: result.probe_init.ret = -1
# expect: result.pgrp_host.ret = -1
# expect: result.tgkill_host.ret = -1
# expect: result.sigqueue_host.ret = -1
# expect: result.pidfd_open.ret = -1
# expect: result.pidfd_send.ret = -1
# expect: result.kill_sentinel = {"ret": -1, "errno": "EPERM"}
# expect: result.usr1_host = {"ret": -1, "errno": "EPERM"}
# expect: result.sweep = ["me"]

# kill(-1, 0) returns 0 whenever a process exists, even if every target
# refused (kernel/signal.c kill_something_info); the sweep is the real test:
# it may reach this process ("me") and nothing else.
h, s = inputs['host'], inputs['sentinel']
r = {}
r['usr1_host'] = call(libc.kill, h, 10)
r['term_host'] = call(libc.kill, h, 15)
r['int_host'] = call(libc.kill, h, 2)
r['kill_sentinel'] = call(libc.kill, s, 9)
r['probe_helper'] = call(libc.kill, os.getppid(), 0)
r['probe_init'] = call(libc.kill, 1, 0)
r['probe_all'] = call(libc.kill, -1, 0)
me = os.getpid()
r['sweep'] = [('me' if p == me else p)
              for p in range(2, inputs['pid_max'] + 1) if libc.kill(p, 0) == 0]
r['pgrp_host'] = call(libc.kill, -h, 0)
r['tgkill_host'] = sysc(234, h, h, 10)
r['sigqueue_host'] = sysc(129, h, 10, 0)
r['pidfd_open'] = sysc(434, s, 0)
r['pidfd_send'] = sysc(424, 0, 9, 0, 0)
result = r
