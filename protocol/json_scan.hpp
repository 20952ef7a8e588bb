#pragma once
/// A strict, allocation-free reader for the small flat JSON documents of the hot API answers.
///
/// The poll, submit and error answers are parsed once per request; a full nlohmann DOM for them
/// cost a quarter of a simulated run's CPU. `document::parse` reads a complete JSON text whose top
/// level is an object into a fixed array of nodes that point into the text (the text must outlive
/// the document). It only answers for inputs it fully understands and nlohmann would read the same
/// way: strings without escape sequences (raw bytes == decoded value, valid UTF-8, no control
/// characters), integers of at most 18 digits, numbers with a fraction or an exponent of at most
/// two digits (recognised as `real`, their value not kept: no caller reads one), true/false/null,
/// objects and arrays nested at most `max_depth` deep, no duplicate keys in any object. Anything
/// else (escapes, long exponents, a BOM, trailing garbage, too many values, invalid JSON) is "not
/// handled": `parse` returns false and callers fall back to nlohmann. A document is a plain value
/// used by one thread.

#include <cstdint>
#include <string_view>

namespace zbatch::protocol::json_scan {

enum class kind : std::uint8_t { null, boolean, integer, real, string, object, array };

/// One value of a document, with its member name when its parent is an object. Trivial on
/// purpose (raw pointers, not string_views) so a document's node array is never zero-filled.
struct node {
  kind type;
  std::uint16_t size;  ///< Members (objects) or elements (arrays); 0 for scalars.
  std::uint16_t end;   ///< Index one past this node's subtree in the document.
  std::uint32_t key_size;
  std::uint32_t text_size;
  const char* key_data;
  const char* text_data;
  std::int64_t number;  ///< Integer value; 1 or 0 for booleans; 0 for a real.

  /// Member name (no escapes, so the raw bytes are the name); empty for array elements.
  std::string_view key() const { return {key_data, key_size}; }
  /// String contents between the quotes (no escapes, so the raw bytes are the value).
  std::string_view text() const { return {text_data, text_size}; }
  bool is_string() const { return type == kind::string; }
  bool is_integer() const { return type == kind::integer; }
  bool is_object() const { return type == kind::object; }
  bool is_array() const { return type == kind::array; }
};

class document {
 public:
  static constexpr std::uint16_t max_nodes = 64;  ///< Values (all levels) in one document.
  static constexpr int max_depth = 3;             ///< The top-level object is depth 1.
  static constexpr int max_integer_digits = 18;   ///< Always fits std::int64_t.

  /// Reads `text`. True when handled: every value is then available through `root()`. False
  /// means "not handled" (never "invalid"): the caller must use a full JSON parser instead.
  bool parse(std::string_view text) noexcept;

  /// Whether the handled document holds a `real` anywhere (callers that need a real's value
  /// fall back to nlohmann).
  bool has_real() const { return has_real_; }

  /// The top-level object. Only meaningful after `parse` returned true.
  const node& root() const { return nodes_[0]; }

  /// The member `key` of `object`; nullptr when absent or when `object` is not an object.
  const node* find(const node& object, std::string_view key) const;

  /// Children of an object or array, in document order (empty for scalars).
  class child_range {
   public:
    class iterator {
     public:
      iterator(const node* nodes, std::uint16_t index) : nodes_(nodes), index_(index) {}
      const node& operator*() const { return nodes_[index_]; }
      const node* operator->() const { return &nodes_[index_]; }
      iterator& operator++() {
        index_ = nodes_[index_].end;
        return *this;
      }
      bool operator!=(const iterator& other) const { return index_ != other.index_; }

     private:
      const node* nodes_;
      std::uint16_t index_;
    };
    iterator begin() const { return {nodes_, first_}; }
    iterator end() const { return {nodes_, last_}; }

   private:
    friend class document;
    child_range(const node* nodes, std::uint16_t first, std::uint16_t last)
        : nodes_(nodes), first_(first), last_(last) {}
    const node* nodes_;
    std::uint16_t first_;
    std::uint16_t last_;
  };
  child_range children(const node& container) const;

 private:
  bool parse_value(const char*& p, const char* end, int depth, std::string_view key) noexcept;
  std::uint16_t index_of(const node& n) const { return static_cast<std::uint16_t>(&n - nodes_); }

  node nodes_[max_nodes];  // deliberately not zeroed: parse writes every node it hands out
  std::uint16_t count_ = 0;
  bool has_real_ = false;
};

}  // namespace zbatch::protocol::json_scan
