# attack: every fd from 0 to 64: which are open, which can be read
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result.open = [0, 1, 2, 3]
# expect: count(result.read) = 61
# expect: result.read.* = EBADF
# expect: result.read3.ok = true
# expect: result.read3.value = "b''"

# fd 3 is the reply channel; the request it carried is read, nothing follows.
r = {'open': [], 'read': {}}
for fd in range(0, 65):
    try:
        os.fstat(fd); r['open'].append(fd)
    except OSError:
        pass
for fd in range(4, 65):
    try:
        d = os.read(fd, 64); r['read'][str(fd)] = 'READ %r' % d
    except OSError as e:
        r['read'][str(fd)] = _en(e.errno)
r['read3'] = tryit(lambda: os.read(3, 1))
import stat
r['modes'] = [stat.filemode(os.fstat(fd).st_mode) for fd in r['open']]
result = r
