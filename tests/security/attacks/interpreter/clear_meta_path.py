# attack: sys.meta_path cleared and socket dropped from sys.modules
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = import_denied

import sys
sys.meta_path.clear()
sys.modules.pop('socket', None)
sys.modules.pop('_socket', None)
import socket
