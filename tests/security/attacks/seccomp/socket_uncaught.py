# attack: socket() uncaught: the refusal names the syscall
# layers: seccomp
# mode: warm
# lib: tryit
# expect: kind = denied
# expect: event = syscall:socket

import socket
socket.socket()
