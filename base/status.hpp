#pragma once
/// The project's one convention for functions that can fail: they return a `status` (nothing to
/// give back) or a `result<T>` (a value or the status that prevented it), never an exception,
/// an out-parameter or an "empty string means OK".
///
/// The model is Abseil's status/ (`absl::Status`, `absl::StatusOr<T>`), cut to what zbatch
/// uses: a code from the subset of `absl::StatusCode` below and a message. The message is the
/// whole user-facing sentence, already worded as it is printed ("FILE: json.path: what is wrong
/// (allowed ...)"); callers print `message()` as it is, so moving a function from throwing to
/// returning changes no output. The code says which kind of failure it is, for callers that
/// react differently (the CLI's exit codes, "a missing file is not an error").
///
/// `result<T, E>` takes the error type as a second parameter (default `status`) so that
/// `client::result<T>` (client/backend.hpp) can become this template over `protocol::api_error`:
/// the backend's outcomes carry a classified protocol error (class, HTTP status, Retry-After,
/// ambiguity) that the retry policy reads, which a code and a message could not hold. It is
/// still its own class with the same members (ok, value, error); the alias is one line in a
/// header every actor includes, left for a step of its own.
///
/// Exceptions remain only where a library throws (nlohmann's parser, the validating JSON
/// reader's walk of one document, the filesystem, CAF's spawn preconditions) and are turned into
/// a status at the function that owns that boundary.
///
/// Values: copyable and movable, no shared state; safe to hand between threads like any value.

#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace zbatch {

/// The subset of `absl::StatusCode` zbatch uses, with the same meanings.
enum class status_code {
  ok,
  invalid_argument,     ///< The input is wrong whatever the state: a bad field, option, spec.
  not_found,            ///< A named thing does not exist: a file, a profile, a preset.
  failed_precondition,  ///< The input is fine but the state refuses it: a run that is refused,
                        ///< an output directory that holds another batch.
  unavailable,          ///< A peer did not answer (the mock, a server); trying later may work.
  data_loss,            ///< Stored data is unreadable or torn (a journal, a results file).
  internal,             ///< A broken invariant or an operation the system failed (a write).
};

/// "OK", "INVALID_ARGUMENT", ... as Abseil spells them.
inline const char* status_code_name(status_code code) {
  switch (code) {
    case status_code::ok:
      return "OK";
    case status_code::invalid_argument:
      return "INVALID_ARGUMENT";
    case status_code::not_found:
      return "NOT_FOUND";
    case status_code::failed_precondition:
      return "FAILED_PRECONDITION";
    case status_code::unavailable:
      return "UNAVAILABLE";
    case status_code::data_loss:
      return "DATA_LOSS";
    case status_code::internal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

/// OK, or a failure's code and its user-facing message.
class [[nodiscard]] status {
 public:
  status() = default;  ///< OK.
  status(status_code code, std::string message) : code_(code), message_(std::move(message)) {
    if (code_ == status_code::ok) {
      message_.clear();  // as absl::Status: an OK status carries no message
    }
  }

  bool ok() const { return code_ == status_code::ok; }
  status_code code() const { return code_; }
  /// The sentence a user reads; empty when OK.
  const std::string& message() const { return message_; }
  /// "OK" or "CODE: message", for logs and test failure output (not for users).
  std::string to_string() const {
    return ok() ? "OK" : std::string(status_code_name(code_)) + ": " + message_;
  }
  /// The same failure with `prefix` in front of its message ("--strategy: " + ...).
  status prefixed(const std::string& prefix) const {
    return ok() ? *this : status(code_, prefix + message_);
  }

  friend bool operator==(const status& a, const status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }
  friend bool operator!=(const status& a, const status& b) { return !(a == b); }

 private:
  status_code code_ = status_code::ok;
  std::string message_;
};

inline status ok_status() { return {}; }
inline status invalid_argument_error(std::string message) {
  return {status_code::invalid_argument, std::move(message)};
}
inline status not_found_error(std::string message) {
  return {status_code::not_found, std::move(message)};
}
inline status failed_precondition_error(std::string message) {
  return {status_code::failed_precondition, std::move(message)};
}
inline status unavailable_error(std::string message) {
  return {status_code::unavailable, std::move(message)};
}
inline status data_loss_error(std::string message) {
  return {status_code::data_loss, std::move(message)};
}
inline status internal_error(std::string message) {
  return {status_code::internal, std::move(message)};
}

/// A value, or the error that prevented it (absl::StatusOr<T> when E is `status`). Both
/// constructors are implicit, so a function returns either `value` or `invalid_argument_error(..)`.
/// Reading `value()` of a failed result (or `error()` of a good one) throws
/// std::bad_variant_access: a programming error, as absl's CHECK failure.
template <class T, class E = status>
class [[nodiscard]] result {
  static_assert(!std::is_same_v<std::decay_t<T>, std::decay_t<E>>, "a value cannot be its error");

 public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  result(E error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  /// The error; only for a failed result.
  const E& error() const { return std::get<1>(state_); }
  /// Abseil's name for the error of a `result<T>`: OK when it holds a value.
  template <class U = E, class = std::enable_if_t<std::is_same_v<U, zbatch::status>>>
  zbatch::status status() const {
    return ok() ? zbatch::status() : error();
  }

 private:
  std::variant<T, E> state_;
};

/// Carries a status out of a deep walk (the validating JSON reader, a parser's helpers nested
/// several calls down) to the public function that owns the walk, which turns it back into a
/// returned status with `capture`. Never leaves a public function: it is how one parser unwinds,
/// not an error convention for callers.
class status_error : public std::exception {
 public:
  explicit status_error(zbatch::status s) : status_(std::move(s)) {}
  const zbatch::status& status() const { return status_; }
  const char* what() const noexcept override { return status_.message().c_str(); }

 private:
  zbatch::status status_;
};

/// Throws `s` as a status_error (inside a walk that a `capture` encloses).
[[noreturn]] inline void raise(status s) { throw status_error(std::move(s)); }

/// The value of `r`, or its status raised as a status_error (inside a walk).
template <class T>
T value_or_raise(result<T> r) {
  if (!r.ok()) {
    raise(r.error());
  }
  return std::move(r).value();
}

/// Runs `body` and returns what it returns as a result (a status when it returns nothing),
/// or the status of a status_error it threw.
template <class F>
auto capture(F&& body) {
  using value_type = std::invoke_result_t<F>;
  if constexpr (std::is_void_v<value_type>) {
    try {
      std::forward<F>(body)();
      return status();
    } catch (const status_error& e) {
      return e.status();
    }
  } else {
    using out = result<value_type>;
    try {
      return out(std::forward<F>(body)());
    } catch (const status_error& e) {
      return out(e.status());
    }
  }
}

}  // namespace zbatch

/// Returns the status of `expr` from the enclosing function when it is not OK (Abseil's
/// RETURN_IF_ERROR). `expr` yields a `zbatch::status`; the enclosing function returns a status
/// or any result<T>.
#define ZBATCH_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::zbatch::status zbatch_status_ = expr; \
    if (!zbatch_status_.ok()) {             \
      return zbatch_status_;                \
    }                                       \
  } while (false)
