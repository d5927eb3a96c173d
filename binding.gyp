{
  "targets": [
    {
      "target_name": "peer_credentials",
      "sources": ["native/peer_credentials.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "systemd_notify",
      "sources": ["native/systemd_notify.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
