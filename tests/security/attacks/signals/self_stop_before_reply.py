# attack: the code stops itself (SIGSTOP) before any reply, as a finished child does, to pass for a finished execution
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed
# expect: message contains "without sending a result"
# expect: stdout = "started\n"

# A one-shot child that has replied closes its fds and stops itself; the
# helper then reports it. Stopping early must end the execution like an exit
# without a reply, never as a success, and must not hang.
print('started', flush=True)
libc.kill(os.getpid(), 19)
result = 'still running'
