# attack: exec of another program, and of a copy of the interpreter, with Landlock alone
# layers: landlock
# mode: external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.sh = {"ret": -1, "errno": "EACCES"}
# expect: result.copy.ret = -1
# expect: result.copy.errno = EACCES or result.copy.errno = EPERM
# expect: result.copied = true

# The external engine's seccomp filter allows execve until the bootstrap stacks one that
# refuses it; with seccomp off, Landlock alone lets the child execute only the
# interpreter and its loader. A copy of the interpreter in the scratch dir is not it.
import shutil, sys
cmd = 'echo pwned > ' + inputs['canary'] + '/exec_pwned'
argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', cmd.encode(), None)
r = {'sh': call(libc.execve, b'/bin/sh', argv, None)}
shutil.copy(sys.executable, 'python-copy')
os.chmod('python-copy', 0o755)
r['copied'] = os.path.exists('python-copy')
argv = (ctypes.c_char_p * 3)(b'python-copy', b'-V', None)
r['copy'] = call(libc.execve, b'python-copy', argv, None)
os.unlink('python-copy')
result = r
