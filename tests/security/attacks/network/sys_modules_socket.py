# attack: socket from sys.modules, past the import filter
# layers: all
# lib: tryit
# expect: kind = denied

import sys
sys.modules['socket'].socket()
