# attack: os.fork
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

os.fork()
