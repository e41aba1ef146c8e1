print("hello from a locked Python environment")
