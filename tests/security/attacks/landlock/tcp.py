# attack: TCP connect to a host listener
# layers: landlock
# mode: warm external
# lib: tryit
# requires: landlock-abi>=4
# expect: kind = ok
# expect: result.tcp.ok = false and result.tcp.errno = EACCES

import socket
r = {}
def tcp():
    s = socket.socket(); s.settimeout(3)
    s.connect(('127.0.0.1', inputs['port']))
r['tcp'] = tryit(tcp)
result = r
