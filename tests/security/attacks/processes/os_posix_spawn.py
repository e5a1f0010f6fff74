# attack: os.posix_spawn
# layers: all
# lib: tryit
# expect: kind = denied

os.posix_spawn('/bin/sh', ['sh'], {})
