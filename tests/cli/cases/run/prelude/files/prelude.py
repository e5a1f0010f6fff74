def double(v):
    return v * 2
