# attack: garbage on the reply channel spoils only this execution
# layers: all
# mode: warm external
# lib: tryit
# expect: kind != ok or result = 1

# The runner runs a plain execution after every attack: the next one works.
os.write(3, b'\xff' * 64)
result = 1
