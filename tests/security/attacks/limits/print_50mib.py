# attack: print 50 MiB
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: stdout_truncated = true
# expect: stdout_bytes <= 1048576

import sys
b = 'A' * (1 << 20)
for i in range(50):
    sys.stdout.write(b)
result = 'done'
