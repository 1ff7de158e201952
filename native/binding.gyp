{
  "targets": [
    {
      "target_name": "posix",
      "sources": ["posix.c", "spawn.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-ldl"]
    }
  ]
}
