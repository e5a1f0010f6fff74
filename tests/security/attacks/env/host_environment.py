# attack: the host's environment: os.environ and /proc/*/environ of itself, the host and the helper
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result.has = false
# expect: result_json excludes PSB_HOST_SECRET
# expect: result.self.ok = false or result.self.value = "False"
# expect: result.host.ok = false
# expect: result.helper.ok = false

# /proc/self/environ: unreadable, or readable without the secret. The
# runner checks from outside that no helper holds PSB_HOST_SECRET.
r = {'environ': dict(os.environ)}
r['has'] = 'PSB_HOST_SECRET' in os.environ
def rd(p):
    data = open(p, 'rb').read()
    return b'PSB_HOST_SECRET' in data
r['self'] = tryit(lambda: rd('/proc/self/environ'))
r['host'] = tryit(lambda: rd('/proc/%d/environ' % inputs['host']))
r['helper'] = tryit(lambda: rd('/proc/%d/environ' % os.getppid()))
result = r
