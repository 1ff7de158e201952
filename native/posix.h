// Functions of the posix addon defined outside posix.c.
#ifndef WAYPOINT_POSIX_H
#define WAYPOINT_POSIX_H
#include <node_api.h>

napi_value spawn_child(napi_env env, napi_callback_info info);
napi_value spawn_child_forked(napi_env env, napi_callback_info info);
napi_value wait_child(napi_env env, napi_callback_info info);
napi_value relay_output(napi_env env, napi_callback_info info);
napi_value relay_busy(napi_env env, napi_callback_info info);
napi_value relay_stats(napi_env env, napi_callback_info info);
napi_value encode_lines(napi_env env, napi_callback_info info);

#endif
