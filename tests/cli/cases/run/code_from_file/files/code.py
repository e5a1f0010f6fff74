print('hi')
result = [1, 'a']
