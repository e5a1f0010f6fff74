# attack: fill the scratch dir: one 200 MiB file, three of 40 MiB, 40000 inodes
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result.one.errno = EFBIG or result.one.errno = ENOSPC
# expect: result.one.written <= 67108864
# expect: result.many_written <= 67108864
# expect: result.many_enospc >= 1
# expect: result.inodes.ok = false and result.inodes.errno = ENOSPC

def fill(name, total):
    n = 0
    chunk = b'\1' * (1 << 20)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            while n < total:
                n += os.write(fd, chunk)
        finally:
            os.close(fd)
    except OSError as e:
        return {'written': n, 'errno': _en(e.errno)}
    return {'written': n, 'errno': None}
r = {'one': fill('big.bin', 200 << 20)}
os.remove('big.bin')
r['many'] = [fill('part%d.bin' % i, 40 << 20) for i in range(3)]
for i in range(3): os.remove('part%d.bin' % i)
# The sums are judged from outside (the header).
r['many_written'] = sum(f['written'] for f in r['many'])
r['many_enospc'] = sum(f['errno'] == 'ENOSPC' for f in r['many'])
made = []
def inodes():
    for i in range(40000):
        open('f%d' % i, 'w').close()
        made.append(i)
r['inodes'] = tryit(inodes)
r['made'] = len(made)
for i in made: os.remove('f%d' % i)
result = r
