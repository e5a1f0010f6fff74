# attack: links and a FIFO planted for the (root) collector of output files
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.hardlink.ret = -1

r = {}
r['symlink'] = call(libc.symlink, inputs['secret'].encode(), b'out_link')
r['dirlink'] = call(libc.symlink, inputs['canary'].encode(), b'out_dir')
r['hardlink'] = call(libc.link, inputs['secret'].encode(), b'out_hard')
r['fifo'] = call(libc.mkfifo, b'out_fifo', 0o666)
os.mkdir('sub'); os.symlink(inputs['secret'], 'sub/secret')
result = r
