# attack: import socket
# layers: hooks
# lib: tryit
# expect: kind = import_denied
# expect: module = socket

import socket
