# attack: socket.socket() and connect past the Python layer
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = denied

import socket
s = socket.socket()
s.connect(('127.0.0.1', inputs['port']))
