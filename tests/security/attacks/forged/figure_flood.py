# attack: after a valid reply, FIGR frames that are not PNGs, without end
# layers: all
# mode: warm external
# lib: forge
# timeout_ms: 20000
# expect: kind = crashed and message contains malformed
# expect: count(figures) = 0

# Dropped figures count against the figure cap like kept ones: the library
# stops reading at the 65th frame instead of until the deadline.
reply({'status': 'ok'})
frame(RESULT, '1')
for _ in range(100000):
    frame(FIGR, b'not a png')
time.sleep(30)
