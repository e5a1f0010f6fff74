# attack: after a valid reply, FILE frames of one empty file, without end
# layers: all
# mode: warm external
# lib: forge
# timeout_ms: 20000
# expect: kind = crashed and message contains malformed
# expect: count(files) = 0

# Every FILE frame counts against the 1000-file cap, whatever it holds and
# whether it is kept: the library stops reading long before the deadline.
FILE = 0x46494c45
reply({'status': 'ok'})
frame(RESULT, '1')
for _ in range(100000):
    frame(FILE, b'same\0')
time.sleep(30)
