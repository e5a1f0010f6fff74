# attack: as root, read the secret and /etc/shadow, write outside the scratch dir
# layers: landlock
# mode: warm external
# lib: tryit
# requires: landlock-abi>=1
# expect: kind = ok
# expect: result.uid = 0
# expect: result.secret.ok = false and result.secret.errno = EACCES
# expect: result.w_canary.ok = false and result.w_canary.errno = EACCES
# expect: result.w_sub.ok = false and result.w_sub.errno = EACCES
# expect: result.w_tmp.ok = false and result.w_tmp.errno = EACCES
# expect: result.mkdir_tmp.ok = false and result.mkdir_tmp.errno = EACCES
# expect: result.shm.ok = false and result.shm.errno = EACCES
# expect: result.shadow.ok = false and result.shadow.errno = EACCES
# expect: result.rename.ok = false
# expect: result.control.ok = true

import socket, signal
r = {'uid': os.getuid()}
r['secret'] = tryit(lambda: open(inputs['secret']).read())
r['w_canary'] = tryit(lambda: open(inputs['canary'] + '/ll_pwned', 'w').write('x'))
r['w_sub'] = tryit(lambda: open(inputs['subdir'] + '/ll_pwned', 'w').write('x'))
r['w_tmp'] = tryit(lambda: open(inputs['canary'] + '-ll', 'w').write('x'))
r['mkdir_tmp'] = tryit(lambda: os.mkdir(inputs['canary'] + '-lldir'))
r['shm'] = tryit(lambda: open('/dev/shm/' + inputs['base'] + '-ll', 'w').write('x'))
r['shadow'] = tryit(lambda: open('/etc/shadow').read())
r['rename'] = tryit(lambda: os.rename(inputs['secret'], 'stolen'))
r['control'] = tryit(lambda: open('ok.txt', 'w').write('fine'))
result = r
