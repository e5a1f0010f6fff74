# attack: a forged ok REPLY and a RESULT that is not JSON: empty
# layers: all
# mode: warm external
# lib: forge
# expect: kind != ok

# The runner checks that the result and the outcome it hands out are JSON.
reply({'status': 'ok'})
frame(RESULT, b'')
time.sleep(0.2)
