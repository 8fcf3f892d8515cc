// vmdesk_libvirt: a small libvirt binding for vmdesk (see connection.h).
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <napi.h>

#include <mutex>
#include <thread>

#include "connection.h"

namespace {

// Errors reach JS through virGetLastError; without a handler libvirt also prints them to stderr.
void SilentErrorHandler(void*, virErrorPtr) {}

// Once per process (worker_threads may load the addon again): libvirt's default event loop must be
// registered before the first connection opens, and something must run it for keepalive, close
// callbacks and domain events to fire. That is one detached thread, never joined.
bool StartLibvirt() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    if (virInitialize() < 0) return;
    virSetErrorFunc(nullptr, SilentErrorHandler);
    if (virEventRegisterDefaultImpl() < 0) return;
    std::thread([] {
      for (;;) virEventRunDefaultImpl();
    }).detach();
    ok = true;
  });
  return ok;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (!StartLibvirt()) throw Napi::Error::New(env, "vmdesk_libvirt: libvirt event loop initialisation failed");
  exports.Set("Connection", vmdesk::Connection::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(vmdesk_libvirt, Init)
