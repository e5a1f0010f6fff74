# attack: os.posix_spawn
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

os.posix_spawn('/bin/sh', ['sh'], {})
