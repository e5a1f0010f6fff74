# attack: socket() through Python and libc: AF_INET, UDP and unix
# layers: seccomp
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.py.ok = false and result.py.errno = EPERM
# expect: result.inet = {"ret": -1, "errno": "EPERM"}
# expect: result.udp = {"ret": -1, "errno": "EPERM"}
# expect: result.unix = {"ret": -1, "errno": "EPERM"}

import socket
r = {}
def py_connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(('127.0.0.1', inputs['port']))
r['py'] = tryit(py_connect)
r['inet'] = call(libc.socket, 2, 1, 0)
r['udp'] = call(libc.socket, 2, 2, 0)
r['unix'] = call(libc.socket, 1, 1, 0)
r['uid'] = os.getuid()
result = r
