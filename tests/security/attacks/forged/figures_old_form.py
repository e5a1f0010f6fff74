# attack: figures inside a forged REPLY: HTML, SVG, a PNG of 100000x100000
# layers: all
# mode: warm external
# lib: forge
# expect: count(figures) = 0 or figures.*.mime = image/png

# The runner checks that every figure is a PNG of the size it declares.
html = b'<html><script>alert(document.domain)</script></html>'
b64 = base64.b64encode(html).decode()
png_head = b'\x89PNG\r\n\x1a\n' + struct.pack('>I4sII', 13, b'IHDR', 640, 480)
reply({'status': 'ok', 'figures': [
    {'mime': 'text/html', 'base64': b64, 'width': 1, 'height': 1},
    {'mime': 'image/png', 'base64': b64, 'width': 1, 'height': 1},
    {'mime': 'image/svg+xml', 'base64': base64.b64encode(b'<svg onload=alert(1)/>').decode(), 'width': 1, 'height': 1},
    {'mime': 'image/png', 'base64': base64.b64encode(png_head).decode(),
     'width': 100000, 'height': 100000}],
    'figures_truncated': False})
frame(RESULT, '1')
result = 1
