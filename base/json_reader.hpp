#pragma once
/// The one validating reader behind the project's hand-written JSON inputs (mock configs,
/// scenario files, batch-file lines, results.json, strategy objects), so that every mistake
/// reads the same way:
///
///     ORIGIN: PATH: PROBLEM
///
/// ORIGIN is what the caller names the document by (a file, `FILE:LINE` for a JSON-lines file,
/// `profile ideal`); it is left out when empty. PATH is the JSON path in the style
/// `throttle.dynamic.schedule[0].to_s`, or `(root)` for the document itself. PROBLEM says what
/// is wrong and what is allowed, one wording per kind of mistake:
///
///     is required: an integer (allowed 1..1000)          absent (or null)
///     must be an integer (allowed 0..100), got "one"     wrong type
///     -1 is out of range (allowed 0..100)                outside the range (also 1e+23
///                                                        for a whole number beyond 64 bits)
///     reads as 0 (0, or a number too small to hold),     0.0 or an underflow (1e-400)
///       which is out of range (allowed 0.001..10)        where 0 is not allowed
///     has an unknown value "x" (allowed "a", "b")        not one of a list
///     unknown field (allowed a, b, c)                    a key nobody asked for
///
/// An integer may be written with an exponent or a fraction part (2.147483647e9, 1e3, 3.0) when
/// its value is whole; 1.5e0 is of the wrong type.
///
/// A JSON null counts as absent everywhere except `number_or_null`.
///
/// Errors follow base/status.hpp. `parse_json` and `read_json_file` return a result. A reader's
/// checks are made deep inside a component's walk of one document, so a failed check raises a
/// `zbatch::status_error` (invalid_argument) that the component's public function turns back
/// into a returned status with `zbatch::capture`; it never reaches the component's callers.
///
/// A reader is a small value that refers to the document (which must outlive it) and remembers
/// the keys it was asked for, for `reject_unknown_fields`. Not thread-safe; use one per thread.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::base {

/// Parses `text`. A syntax error is invalid_argument "ORIGIN:LINE:COLUMN: not valid JSON: REASON"
/// (line and column count from 1, as editors show them); a number too large for a double,
/// "ORIGIN:LINE:COLUMN: PATH: the number 1E400 is too large (...)", PATH as the readers name it
/// (its range is the component's, not known while parsing); a key given twice in one object
/// (which JSON parsers take silently, the last winning), "ORIGIN: PATH: is given twice (...)".
result<nlohmann::json> parse_json(std::string_view text, const std::string& origin);

/// Parses line `line_number` of a JSON-lines `file` (`line` without its newline); errors as
/// parse_json's, "FILE:LINE:COLUMN: not valid JSON: REASON", "FILE:LINE: PATH: is given twice".
result<nlohmann::json> parse_json_line(std::string_view line, const std::string& file,
                                       std::size_t line_number);

/// Reads and parses a file named by `file` in errors; not_found "FILE: cannot be read" when it
/// cannot be opened.
result<nlohmann::json> read_json_file(const std::filesystem::path& file);

/// A number as the messages print it, also in ranges ("0.001", "1e+06", "86400").
std::string format_number(double value);

class json_reader {
 public:
  /// A reader of `document`, which is at `path` (empty: the document itself) of `origin`.
  json_reader(const nlohmann::json& document, std::string origin, std::string path = {});

  // ---- Where -------------------------------------------------------------------------------
  /// The value; a null JSON value when it is absent.
  const nlohmann::json& node() const;
  const std::string& origin() const { return origin_; }
  /// The JSON path ("" for the document itself).
  const std::string& path() const { return path_; }
  /// The key is in the document (possibly with a null value).
  bool exists() const { return node_ != nullptr; }
  /// The key is in the document with a value other than null.
  bool present() const { return node_ != nullptr && !node_->is_null(); }
  /// Raises "ORIGIN: PATH: problem" (an invalid_argument status_error).
  [[noreturn]] void fail(const std::string& problem) const;
  /// Raises "is required: WHAT" when absent, else "must be WHAT, got VALUE": for values that
  /// may take several shapes (a name or an object), checked by the caller.
  [[noreturn]] void fail_expected(const std::string& what) const;

  // ---- Children ----------------------------------------------------------------------------
  /// The value at `key` of this object (absent when this is not an object or lacks the key).
  /// Marks `key` as known for reject_unknown_fields.
  json_reader field(const std::string& key);
  /// Whether `key` is present (not null); marks it as known.
  bool has(const std::string& key) { return field(key).present(); }
  /// The element `index` of this array (absent beyond its end).
  json_reader element(std::size_t index) const;
  /// The object at `key`, or nullopt when absent; fails when present but not an object.
  std::optional<json_reader> object(const std::string& key);
  /// Raises "PATH.key: unknown field (allowed ...)" for the first key of this object that was
  /// never asked for (through field, has, object or read, or named to expect_fields).
  void reject_unknown_fields() const;
  /// Fails unless this is an object whose keys are all in `allowed` (and those asked for so
  /// far): up front, so a misspelt required field reads as unknown rather than missing.
  void expect_fields(const std::vector<std::string>& allowed);

  // ---- Shapes and values of this node (each fails when it is absent) ------------------------
  void expect_object() const;
  /// The array's size; fails unless an array (a non-empty one when `non_empty`) of `what`.
  std::size_t array(const std::string& what, bool non_empty = false) const;
  std::int64_t integer(std::int64_t low, std::int64_t high) const;
  double number(double low, double high) const;
  double number() const;                         ///< Any number.
  std::optional<double> number_or_null() const;  ///< Any number, or null (nullopt).
  bool boolean() const;
  std::string string() const;  ///< A non-empty string.
  std::string string_or_empty() const;
  /// The index in `allowed` of this string value.
  std::size_t one_of(const std::vector<std::string>& allowed) const;

  // ---- Optional fields of this object: `out` keeps its value when the key is absent ---------
  void read(const std::string& key, int& out, int low, int high);
  void read(const std::string& key, double& out, double low, double high);
  void read(const std::string& key, double& out);  ///< Any number.
  void read(const std::string& key, std::optional<double>& out, double low, double high);
  void read(const std::string& key, bool& out);
  void read(const std::string& key, std::string& out);  ///< Any string, also empty.
  void read(const std::string& key, std::string& out, const std::vector<std::string>& allowed);

 private:
  json_reader(const nlohmann::json* node, const json_reader& parent, std::string path);
  /// Fails with "is required: WHAT" when absent.
  void require(const std::string& what) const;

  const nlohmann::json* node_;
  std::string origin_;
  std::string path_;
  std::vector<std::string> asked_;
};

}  // namespace zbatch::base
