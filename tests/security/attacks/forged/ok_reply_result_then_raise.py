# attack: a forged ok REPLY and RESULT, then a result of its own and an exception
# layers: all
# mode: warm external
# lib: forge
# expect: kind != ok

reply({'status': 'ok', 'files': 0})
frame(RESULT, '{"admin":true}')
result = 1
1 / 0
