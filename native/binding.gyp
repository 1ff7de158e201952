{
  "targets": [
    {
      "target_name": "posix",
      "sources": ["posix.c", "spawn.c", "relay.c", "lines.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
