// TSan annotations of CAF's message hand-offs, for the `tsan` preset only (ZBATCH_TSAN_CAF=ON).
//
// Why: Debian's libcaf_core 0.17.6 is not built with -fsanitize=thread, so TSan cannot see the
// atomics of its mailboxes and scheduler queues. Every message sent from one thread and handled
// on another, and every actor that a later message resumes on another worker, then looks like a
// data race in zbatch's handlers (thousands of false reports that hide the real ones).
//
// What: this shared library is linked before libcaf_core into every executable of the tsan build,
// so its definitions of a few exported CAF member functions win (ELF symbol interposition). Each
// one tells TSan the ordering CAF guarantees (__tsan_release / __tsan_acquire) and then calls
// CAF's own function, found with dlsym(RTLD_NEXT). Modelled: an enqueue happens-before every
// handler that starts after it (one synchronisation object for all mailboxes, see sync_of), an
// actor's runs do not overlap, a spawn happens-before the first run, and dropping a reference to
// an actor is acquire-release. Races between zbatch's actors and other threads (callbacks,
// cpp-httplib's threads, the main thread) that do not pass through a mailbox are still reported.
//
// Lifetime: loaded with the executable; the CAF functions are looked up once, on first use.
// Threading: the wrappers run on whatever thread CAF calls them on; they keep no state besides
// the looked-up pointers (function-local statics, initialised thread-safely).

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include <caf/actor_control_block.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/scheduled_actor.hpp>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

/// CAF's own definition of `mangled` (the next one after this library in lookup order).
template <class Fn>
Fn next_definition(const char* mangled) {
  void* found = dlsym(RTLD_NEXT, mangled);
  if (found == nullptr) {
    std::fprintf(stderr, "caf_annotations: %s not found in libcaf_core: %s\n", mangled, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(found);
}

/// The one synchronisation object of every hand-off through a mailbox. One for all actors, not one
/// per actor: with one per actor (release on the receiver in enqueue, acquire on it in the
/// mailbox visitor) reports remained on mailbox elements freed by the receiving worker (seen in
/// actors_test and the loopback test) that we could not explain in the time available, so the
/// coarser model is used: any enqueue happens-before any handler that starts after it.
char mailbox_sync;
void* sync_of(const caf::abstract_actor*) { return &mailbox_sync; }

}  // namespace

namespace caf {

// Any thread: a message (or a response) to this actor. Release before the element leaves.
void scheduled_actor::enqueue(mailbox_element_ptr ptr, execution_unit* eu) {
  using fn = void (*)(scheduled_actor*, mailbox_element_ptr, execution_unit*);
  static const auto next = next_definition<fn>(
      "_ZN3caf15scheduled_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_"
      "6detail8disposerEEPNS_"
      "14execution_unitE");
  __tsan_release(sync_of(this));
  next(this, std::move(ptr), eu);
}

// The spawning thread made the actor; its first run happens on a worker (or its own thread).
void scheduled_actor::launch(execution_unit* eu, bool lazy, bool hide) {
  using fn = void (*)(scheduled_actor*, execution_unit*, bool, bool);
  static const auto next =
      next_definition<fn>("_ZN3caf15scheduled_actor6launchEPNS_14execution_unitEbb");
  __tsan_release(sync_of(this));
  next(this, eu, lazy, hide);
}

// One run of the actor on a worker (or its detached thread): acquires what earlier runs and the
// senders released; releases for the next run.
resumable::resume_result scheduled_actor::resume(execution_unit* eu, size_t max_throughput) {
  using fn = resumable::resume_result (*)(scheduled_actor*, execution_unit*, size_t);
  static const auto next =
      next_definition<fn>("_ZN3caf15scheduled_actor6resumeEPNS_14execution_unitEm");
  __tsan_acquire(sync_of(this));
  auto result = next(this, eu, max_throughput);
  __tsan_release(sync_of(this));
  return result;
}

// One message handled within a run: it may have been enqueued after the run began.
intrusive::task_result scheduled_actor::mailbox_visitor::operator()(mailbox_element& x) {
  using fn = intrusive::task_result (*)(mailbox_visitor*, mailbox_element&);
  static const auto next =
      next_definition<fn>("_ZN3caf15scheduled_actor15mailbox_visitorclERNS_15mailbox_elementE");
  __tsan_acquire(sync_of(self));
  return next(this, x);
}

// Blocking actors (scoped_actor, detached blocking actors): the same for their mailbox.
void blocking_actor::enqueue(mailbox_element_ptr ptr, execution_unit* eu) {
  using fn = void (*)(blocking_actor*, mailbox_element_ptr, execution_unit*);
  static const auto next = next_definition<fn>(
      "_ZN3caf14blocking_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_"
      "6detail8disposerEEPNS_"
      "14execution_unitE");
  __tsan_release(sync_of(this));
  next(this, std::move(ptr), eu);
}

mailbox_element_ptr blocking_actor::dequeue() {
  using fn = mailbox_element_ptr (*)(blocking_actor*);
  static const auto next = next_definition<fn>("_ZN3caf14blocking_actor7dequeueEv");
  auto result = next(this);
  __tsan_acquire(sync_of(this));
  return result;
}

intrusive::task_result blocking_actor::mailbox_visitor::operator()(mailbox_element& x) {
  using fn = intrusive::task_result (*)(mailbox_visitor*, mailbox_element&);
  static const auto next =
      next_definition<fn>("_ZN3caf14blocking_actor15mailbox_visitorclERNS_15mailbox_elementE");
  __tsan_acquire(sync_of(self));
  return next(this, x);
}

// Dropping a strong reference: CAF's count is an atomic in the library, so the thread that drops
// the last reference and destroys the actor is not ordered after the other holders' last uses
// (a vptr race between an anon_send and the destructor). A decrement is acquire-release, as the
// fetch_sub it stands for.
void intrusive_ptr_release(actor_control_block* x) {
  using fn = void (*)(actor_control_block*);
  static const auto next =
      next_definition<fn>("_ZN3caf21intrusive_ptr_releaseEPNS_19actor_control_blockE");
  __tsan_release(x);
  __tsan_acquire(x);
  next(x);
}

}  // namespace caf
