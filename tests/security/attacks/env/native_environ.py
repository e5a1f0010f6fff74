# attack: /proc/*/environ of the host and the helper, and the helper's memory, through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.host.ret = -1
# expect: result.helper.ret = -1
# expect: result.helper_mem.ret = -1

r = {}
r['host'] = lopen('/proc/%d/environ' % inputs['host'], 0)
r['helper'] = lopen('/proc/%d/environ' % os.getppid(), 0)
r['helper_mem'] = lopen('/proc/%d/mem' % os.getppid(), 0)
result = r
