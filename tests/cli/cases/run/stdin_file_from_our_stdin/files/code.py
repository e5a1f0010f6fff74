import sys
result = sys.stdin.read().upper()
