# attack: ids and capabilities; root-only files; chmod; signals to root processes; setuid(0)
# layers: unprivileged
# mode: warm external
# lib: tryit
# requires: root
# expect: kind = ok
# expect: result.ids = [65534, 65534, 65534, 65534]
# expect: result.groups = []
# expect: result.secret.ok = false and result.secret.errno = EACCES
# expect: result.shadow.ok = false and result.shadow.errno = EACCES
# expect: result.w_sub.ok = false and result.w_sub.errno = EACCES
# expect: result.w_canary.ok = false and result.w_canary.errno = EACCES
# expect: result.chmod.ok = false and result.chmod.errno = EPERM
# expect: result.kill_sentinel.ok = false and result.kill_sentinel.errno = EPERM
# expect: result.kill_host.ok = false and result.kill_host.errno = EPERM
# expect: result.setuid0.ok = false and result.setuid0.errno = EPERM
# expect: result.caps.CapEff = 0
# expect: result.caps.CapPrm = 0
# expect: result.caps.CapInh = 0
# expect: result.caps.CapAmb = 0

import signal
r = {'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
     'groups': os.getgroups()}
r['secret'] = tryit(lambda: open(inputs['secret']).read())
r['shadow'] = tryit(lambda: open('/etc/shadow').read())
r['w_sub'] = tryit(lambda: open(inputs['subdir'] + '/unpriv_pwned', 'w').write('x'))
r['w_canary'] = tryit(lambda: open(inputs['canary'] + '/unpriv_pwned', 'w').write('x'))
r['chmod'] = tryit(lambda: os.chmod(inputs['secret'], 0o666))
r['kill_sentinel'] = tryit(lambda: os.kill(inputs['sentinel'], signal.SIGKILL))
r['kill_host'] = tryit(lambda: os.kill(inputs['host'], signal.SIGUSR1))
r['setuid0'] = tryit(lambda: os.setuid(0))
caps = {}
for line in open('/proc/self/status'):
    k, _, v = line.partition(':')
    if k.startswith('Cap'):
        caps[k] = int(v.strip(), 16)
r['caps'] = caps
result = r
