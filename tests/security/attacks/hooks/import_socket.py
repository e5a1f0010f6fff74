# attack: import socket
# layers: hooks
# mode: warm external
# lib: tryit
# expect: kind = import_denied
# expect: module = socket

import socket
