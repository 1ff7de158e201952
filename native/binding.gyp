{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["reaper.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
