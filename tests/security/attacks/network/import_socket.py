# attack: import socket
# layers: all
# lib: tryit
# expect: kind = import_denied

import socket
