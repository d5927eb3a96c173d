/*
 * Kernel peer credentials of Unix-socket clients, for the Workload API endpoint.
 *
 * Node.js exposes neither SO_PEERCRED nor pidfds, so this addon wraps the few Linux
 * system calls the endpoint needs. Every function takes and returns plain integers.
 * A failed system call throws an Error whose `code` is the errno name (for example
 * "EBADF") and whose `syscall` names the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <node_api.h>

/* Linux 6.5 added SO_PEERPIDFD. Debian 12's kernel headers predate it, so the
 * asm-generic value (used by x86-64 and arm64) is spelled out here. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* Syscall numbers from the unified table (Linux 5.1+ and 5.3+), for C libraries
 * without pidfd wrappers. */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Returns NULL after throwing, so callers can `return throw_errno(...)`. */
static napi_value throw_errno(napi_env env, int error_number, const char *syscall_name) {
  const char *name = strerrorname_np(error_number);
  char message[256];
  napi_value code;
  napi_value text;
  napi_value error;
  napi_value syscall_value;

  snprintf(message, sizeof message, "%s failed: %s", syscall_name, strerror(error_number));
  napi_create_string_utf8(env, name != NULL ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return NULL;
}

/* Reads the single non-negative integer argument every function takes. Returns -1
 * after throwing a TypeError. */
static int read_int_argument(napi_env env, napi_callback_info info, const char *what) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t value;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &value) != napi_ok || value < 0) {
    char message[128];
    snprintf(message, sizeof message, "expected %s as a non-negative integer", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return -1;
  }
  return value;
}

static napi_value make_int(napi_env env, int64_t value) {
  napi_value result;
  napi_create_int64(env, value, &result);
  return result;
}

/* peerCredentials(socketFd) -> { pid, uid, gid }, as the kernel recorded them at connect(). */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  int fd = read_int_argument(env, info, "a socket file descriptor");
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  napi_value result;

  if (fd < 0) {
    return NULL;
  }
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return throw_errno(env, errno, "getsockopt(SO_PEERCRED)");
  }

  napi_create_object(env, &result);
  napi_set_named_property(env, result, "pid", make_int(env, credentials.pid));
  napi_set_named_property(env, result, "uid", make_int(env, credentials.uid));
  napi_set_named_property(env, result, "gid", make_int(env, credentials.gid));
  return result;
}

/* peerPidfd(socketFd) -> pidfd of the process that called connect(). Throws ENOPROTOOPT
 * on kernels older than 6.5. */
static napi_value peer_pidfd(napi_env env, napi_callback_info info) {
  int fd = read_int_argument(env, info, "a socket file descriptor");
  int pidfd = -1;
  socklen_t length = sizeof pidfd;

  if (fd < 0) {
    return NULL;
  }
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) != 0) {
    return throw_errno(env, errno, "getsockopt(SO_PEERPIDFD)");
  }
  return make_int(env, pidfd);
}

/* pidfdOpen(pid) -> pidfd of whichever process has that pid now. */
static napi_value pidfd_open_function(napi_env env, napi_callback_info info) {
  int pid = read_int_argument(env, info, "a pid");
  long pidfd;

  if (pid < 0) {
    return NULL;
  }
  pidfd = syscall(SYS_pidfd_open, (pid_t)pid, 0U);
  if (pidfd < 0) {
    return throw_errno(env, errno, "pidfd_open");
  }
  return make_int(env, pidfd);
}

/*
 * pidfdIsAlive(pidfd) -> false once the process has exited.
 *
 * A pidfd turns readable when its process exits, even while the process is an unreaped
 * zombie, and pidfd_send_signal(0) reports ESRCH once it is reaped. EPERM from the signal
 * check means the process exists but belongs to another user.
 */
static napi_value pidfd_is_alive(napi_env env, napi_callback_info info) {
  int pidfd = read_int_argument(env, info, "a pidfd");
  struct pollfd poll_entry;
  int ready;
  napi_value result;

  if (pidfd < 0) {
    return NULL;
  }

  poll_entry.fd = pidfd;
  poll_entry.events = POLLIN;
  poll_entry.revents = 0;
  do {
    ready = poll(&poll_entry, 1, 0);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) {
    return throw_errno(env, errno, "poll(pidfd)");
  }
  if (ready > 0) {
    if ((poll_entry.revents & POLLNVAL) != 0) {
      return throw_errno(env, EBADF, "poll(pidfd)");
    }
    napi_get_boolean(env, false, &result);
    return result;
  }

  if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0U) != 0 && errno != EPERM) {
    if (errno == ESRCH) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    return throw_errno(env, errno, "pidfd_send_signal");
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* closeFd(fd) closes a descriptor this addon returned. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  int fd = read_int_argument(env, info, "a file descriptor");
  napi_value result;

  if (fd < 0) {
    return NULL;
  }
  /* Linux releases the descriptor even when close() fails with EINTR, so retrying
   * could close a descriptor that another thread just opened. */
  if (close(fd) != 0 && errno != EINTR) {
    return throw_errno(env, errno, "close");
  }
  napi_get_undefined(env, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerPidfd", NULL, peer_pidfd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdOpen", NULL, pidfd_open_function, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdIsAlive", NULL, pidfd_is_alive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };

  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
