# attack: the same file attacks through libc, past the Python layer
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.secret = {"ret": -1, "errno": "EACCES"}
# expect: result.via_link = {"ret": -1, "errno": "EACCES"}
# expect: result.dotdot = {"ret": -1, "errno": "EACCES"}
# expect: result.shadow = {"ret": -1, "errno": "EACCES"}
# expect: result.w_canary.ret = -1
# expect: result.w_sub.ret = -1
# expect: result.w_tmp.ret = -1
# expect: result.w_shm.ret = -1
# expect: result.w_vartmp.ret = -1
# expect: result.w_up.ret = -1
# expect: result.hardlink.ret = -1
# expect: result.rename.ret = -1
# expect: result.chmod.ret = -1
# expect: result.unlink.ret = -1
# expect: result.procmem.ret = -1
# expect: result.host_environ.ret = -1
# expect: result.control.ret >= 0

O_WR = 0o1 | 0o100 | 0o1000
r = {}
r['secret'] = lopen(inputs['secret'], 0)
r['symlink'] = call(libc.symlink, inputs['secret'].encode(), b'link')
r['via_link'] = lopen('link', 0)
r['dotdot'] = lopen(os.path.relpath(inputs['secret'], os.getcwd()), 0)
r['shadow'] = lopen('/etc/shadow', 0)
r['w_canary'] = lopen(inputs['canary'] + '/pwned', O_WR)
r['w_sub'] = lopen(inputs['subdir'] + '/pwned', O_WR)
r['w_tmp'] = lopen(inputs['canary'] + '-pwned', O_WR)
r['w_shm'] = lopen('/dev/shm/' + inputs['base'] + '-x', O_WR)
r['w_vartmp'] = lopen('/var/tmp/' + inputs['base'] + '-x', O_WR)
r['w_up'] = lopen('../' + inputs['base'] + '-x', O_WR)
r['hardlink'] = call(libc.link, inputs['secret'].encode(), b'hl')
r['rename'] = call(libc.rename, inputs['secret'].encode(), b'stolen')
r['chmod'] = call(libc.chmod, inputs['secret'].encode(), 0o666)
r['unlink'] = call(libc.unlink, inputs['secret'].encode())
r['procmem'] = lopen('/proc/self/mem', 2)
r['host_environ'] = lopen('/proc/%d/environ' % inputs['host'], 0)
r['control'] = lopen('ok2.txt', O_WR)
result = r
