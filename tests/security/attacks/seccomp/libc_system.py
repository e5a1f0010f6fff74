# attack: libc system() writes a file through /bin/sh
# layers: seccomp
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok and result != 0 or kind = crashed and message contains SIGSYS and result = null

# posix_spawn blocks every signal around clone(), so the trapped clone
# cannot be reported as EPERM and SIGSYS kills the process; either way
# nothing runs.
result = libc.system(('echo pwned > ' + inputs['canary'] +
                      '/system_pwned').encode())
