# attack: mkdir, rename, link, chmod, unlink, /dev/shm, /var/tmp, /proc/self/mem, listdir
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result.mkdir.ok = false
# expect: result.rename.ok = false
# expect: result.link.ok = false
# expect: result.chmod.ok = false
# expect: result.unlink.ok = false
# expect: result.shm.ok = false
# expect: result.vartmp.ok = false
# expect: result.procmem.ok = false
# expect: result.listdir.ok = false
# expect: result.control.ok = true

r = {}
r['mkdir'] = tryit(lambda: os.mkdir(inputs['canary'] + '/d'))
r['rename'] = tryit(lambda: os.rename(inputs['secret'], 'stolen'))
r['link'] = tryit(lambda: os.link(inputs['secret'], 'hl'))
r['chmod'] = tryit(lambda: os.chmod(inputs['secret'], 0o666))
r['unlink'] = tryit(lambda: os.unlink(inputs['secret']))
r['shm'] = tryit(lambda: open('/dev/shm/' + inputs['base'] + '-x', 'w'))
r['vartmp'] = tryit(lambda: open('/var/tmp/' + inputs['base'] + '-x', 'w'))
r['procmem'] = tryit(lambda: open('/proc/self/mem', 'r+b'))
r['listdir'] = tryit(lambda: os.listdir(inputs['canary']))
r['control'] = tryit(lambda: open('ok.txt', 'w').write('fine'))
result = r
