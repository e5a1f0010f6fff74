# attack: socket from sys.modules, past the import filter
# layers: all
# mode: warm
# lib: tryit
# expect: kind = denied

import sys
sys.modules['socket'].socket()
