# attack: control: a real figure comes back as a PNG of its real size
# layers: all
# mode: warm external
# lib: forge
# expect: kind = ok
# expect: count(figures) = 1
# expect: figures.0.width > 0
# expect: figures.0.height > 0

import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.show()
result = 1
