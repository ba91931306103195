/*
 * Points this process's stderr (file descriptor 2) at a file and back.
 *
 * Why: the TensorFlow C library logs while it loads (its static
 * initialisers print "oneDNN custom operations are on" and absl's notice
 * before TF applies TF_CPP_MIN_LOG_LEVEL), straight to descriptor 2, where
 * JavaScript cannot filter it. lib/src/backend/tf-log.ts loads tfjs-node with
 * descriptor 2 redirected to a temporary file, then writes back the lines at
 * the chosen level. Built by scripts/setup.mjs (step `stderr`); without it
 * bnlab loads TensorFlow unredirected.
 *
 *   redirect(path) -> saved   descriptor 2 now writes to path (created, truncated);
 *                             saved is a copy of the old descriptor 2
 *   restore(saved)            descriptor 2 is the old one again; saved is closed
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *what) {
  char msg[4400];
  snprintf(msg, sizeof msg, "stderr-redirect: %s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value redirect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "stderr-redirect: redirect(path) needs a file path");
    return NULL;
  }
  fflush(stderr);
  int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (saved < 0) return fail(env, "dup(2)");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    close(saved);
    return fail(env, path);
  }
  int ok = dup2(fd, 2);
  close(fd);
  if (ok < 0) {
    close(saved);
    return fail(env, "dup2");
  }
  napi_value out;
  napi_create_int32(env, saved, &out);
  return out;
}

static napi_value restore(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t saved = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &saved) != napi_ok || saved < 3) {
    napi_throw_type_error(env, NULL, "stderr-redirect: restore(saved) needs what redirect returned");
    return NULL;
  }
  fflush(stderr);
  int ok = dup2(saved, 2);
  close(saved);
  if (ok < 0) return fail(env, "dup2");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "redirect", NAPI_AUTO_LENGTH, redirect, NULL, &fn);
  napi_set_named_property(env, exports, "redirect", fn);
  napi_create_function(env, "restore", NAPI_AUTO_LENGTH, restore, NULL, &fn);
  napi_set_named_property(env, exports, "restore", fn);
  return exports;
}
