# attack: a thread stops the whole process (SIGSTOP) before the main thread can print and reply
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = crashed
# expect: stdout excludes after-stop

# SIGSTOP stops every thread at once: nothing runs after it, and the helper
# reports the execution from what the kernel says (no reply: crashed).
import threading
t = threading.Thread(target=lambda: libc.kill(os.getpid(), 19))
t.start()
t.join()
print('after-stop', flush=True)
result = 1
