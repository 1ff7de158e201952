// The two members of std::thread that GCC >= 6 headers call and libstdc++ exports only from
// GLIBCXX_3.4.22 on, defined inside node-pty's release addon (scripts/release/addons.mjs), the
// way Red Hat's devtoolset links newer libstdc++ parts statically: the addon then needs no
// GLIBCXX beyond what the embedded Node itself needs (3.4.21). The linker's version script keeps
// them local, so they never stand in for libstdc++'s own in the rest of the process.
// Same behaviour as libstdc++'s src/c++11/thread.cc: run the state's _M_run on a new pthread,
// which owns (and deletes) the state; report pthread_create's error as std::system_error.
#include <pthread.h>

#include <memory>
#include <system_error>
#include <thread>

namespace std {

thread::_State::~_State() = default;

static void *run_thread_state(void *state) {
  thread::_State_ptr owned{static_cast<thread::_State *>(state)};
  owned->_M_run();
  return nullptr;
}

void thread::_M_start_thread(_State_ptr state, void (*)()) {
  const int err = pthread_create(&_M_id._M_thread, nullptr, &run_thread_state, state.get());
  if (err != 0) __throw_system_error(err);
  state.release();
}

}  // namespace std
