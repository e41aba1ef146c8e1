print("hello from a diet image")
