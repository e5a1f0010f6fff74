# attack: a forged ok REPLY and a RESULT that is not JSON: two values
# layers: all
# mode: warm external
# lib: forge
# expect: kind != ok

# The runner checks that the result and the outcome it hands out are JSON.
reply({'status': 'ok'})
frame(RESULT, b'[1] [2]')
time.sleep(0.2)
