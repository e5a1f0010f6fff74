# attack: import socket
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = import_denied

import socket
