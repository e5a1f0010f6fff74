# attack: os.fork
# layers: all
# lib: tryit
# expect: kind = denied

os.fork()
