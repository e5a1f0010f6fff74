# attack: FIGR frames of HTML and of a fake PNG, before and after a forged reply
# layers: all
# mode: warm external
# lib: forge
# expect: count(figures) = 0 or figures.*.mime = image/png

# The runner checks that every figure is a PNG of the size it declares.
html = b'<html><script>alert(document.domain)</script></html>'
frame(FIGR, html)
frame(FIGR, b'\x89PNG\r\n\x1a\n' + html)
reply({'status': 'ok'})
frame(RESULT, '1')
frame(FIGR, html)
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.show()
result = 1
