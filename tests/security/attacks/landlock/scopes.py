# attack: an abstract unix socket of the host, signals to the sentinel, host and helper
# layers: landlock
# mode: warm external
# lib: tryit
# requires: landlock-abi>=6
# expect: kind = ok
# expect: result.abstract.ok = false and result.abstract.errno = EPERM
# expect: result.kill_sentinel.ok = false and result.kill_sentinel.errno = EPERM
# expect: result.kill_host.ok = false and result.kill_host.errno = EPERM
# expect: result.kill_parent.ok = false and result.kill_parent.errno = EPERM

import socket, signal
r = {}
def abstract():
    s = socket.socket(socket.AF_UNIX); s.settimeout(3)
    s.connect('\0' + inputs['abstract'])
r['abstract'] = tryit(abstract)
r['kill_sentinel'] = tryit(lambda: os.kill(inputs['sentinel'], signal.SIGKILL))
r['kill_host'] = tryit(lambda: os.kill(inputs['host'], signal.SIGUSR1))
r['kill_parent'] = tryit(lambda: os.kill(os.getppid(), 0))
result = r
