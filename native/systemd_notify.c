/*
 * Service manager notifications (sd_notify protocol) for units of Type=notify.
 *
 * systemd reads state changes such as READY=1 as datagrams on the Unix socket named by
 * $NOTIFY_SOCKET. Node.js cannot send to a Unix datagram socket, so this addon does it with
 * socket(2) and sendto(2). The datagram must come from the unit's main process (the
 * default NotifyAccess=main), which is why a helper program such as systemd-notify(1)
 * would not do. A failed system call throws an Error whose `code` is the errno name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

#define MAX_MESSAGE_BYTES 4096

/* Returns NULL after throwing, so callers can `return throw_system_error(...)`. */
static napi_value throw_system_error(napi_env env, int error_number, const char *call) {
  const char *name = strerrorname_np(error_number);
  char message[320];

  snprintf(message, sizeof message, "%s failed: %s", call, strerror(error_number));
  napi_throw_error(env, name != NULL ? name : "EUNKNOWN", message);
  return NULL;
}

/* Copies a string argument into `buffer` (NUL-terminated) and returns its length, or -1
 * after throwing a TypeError when the argument is not a string or does not fit. */
static ssize_t read_string_argument(napi_env env, napi_value value, char *buffer, size_t size, const char *argument_name) {
  size_t length = 0;
  char message[128];

  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length >= size) {
    snprintf(message, sizeof message, "expected %s as a string of fewer than %zu bytes", argument_name, size);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return -1;
  }
  napi_get_value_string_utf8(env, value, buffer, size, &length);
  return (ssize_t)length;
}

/*
 * Fills `address` from a $NOTIFY_SOCKET value: an absolute path, or "@name" for a socket in
 * the abstract namespace (the "@" becomes a leading NUL byte). Returns the address length,
 * or 0 when the value is neither.
 */
static socklen_t notify_socket_address(const char *path, size_t path_length, struct sockaddr_un *address) {
  memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;

  if (path_length < 2 || (path[0] != '/' && path[0] != '@') || path_length >= sizeof address->sun_path) {
    return 0;
  }
  memcpy(address->sun_path, path, path_length);
  if (path[0] == '@') {
    address->sun_path[0] = '\0';
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
  }
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length + 1);
}

/* notify(socketPath, message) sends `message` as one datagram to `socketPath`. */
static napi_value notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char message[MAX_MESSAGE_BYTES];
  ssize_t path_length;
  ssize_t message_length;
  struct sockaddr_un address;
  socklen_t address_length;
  int fd;
  int sent;
  int send_error;
  napi_value result;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a socket path and a message");
    return NULL;
  }
  path_length = read_string_argument(env, argv[0], path, sizeof path, "the socket path");
  if (path_length < 0) {
    return NULL;
  }
  message_length = read_string_argument(env, argv[1], message, sizeof message, "the message");
  if (message_length < 0) {
    return NULL;
  }
  address_length = notify_socket_address(path, (size_t)path_length, &address);
  if (address_length == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "expected the socket path to be an absolute path or to start with @");
    return NULL;
  }

  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return throw_system_error(env, errno, "socket(AF_UNIX, SOCK_DGRAM)");
  }
  do {
    sent = (int)sendto(fd, message, (size_t)message_length, MSG_NOSIGNAL, (struct sockaddr *)&address, address_length);
  } while (sent < 0 && errno == EINTR);
  send_error = errno;
  close(fd);
  if (sent < 0) {
    return throw_system_error(env, send_error, "sendto(NOTIFY_SOCKET)");
  }

  napi_get_undefined(env, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"notify", NULL, notify, NULL, NULL, NULL, napi_enumerable, NULL},
  };

  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
