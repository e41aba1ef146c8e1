print("hello from pinned Debian packages")
