# attack: setuid(0), setresuid, chroot, capset, seccomp, prctl, TIOCSTI and execveat of a memfd
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.setuid0.ret = -1
# expect: result.setresuid0.ret = -1
# expect: result.chroot.ret = -1
# expect: result.capset.ret = -1
# expect: result.seccomp.ret = -1
# expect: result.prctl_caps.ret = -1
# expect: result.ioctl_tiocsti.ret = -1
# expect: result.memfd_exec.ret = -1

r = {}
r['setuid0'] = call(libc.setuid, 0)
r['setresuid0'] = call(libc.setresuid, 0, 0, 0)
r['chroot'] = call(libc.chroot, b'.')
r['capset'] = sysc(126, 0, 0)
r['seccomp'] = sysc(317, 0, 0, 0)
r['prctl_caps'] = call(libc.prctl, 47, 2, 0, 0, 0)
r['ioctl_tiocsti'] = call(libc.ioctl, 0, 0x5412, b'x')
r['memfd_exec'] = sysc(322, -1, b'', 0, 0, 0x1000)
result = r
